"""Account lockout and per-address throttling of failed sign-ins.

Lockout (e-Albania: 3 wrong passwords lock the account for 3 hours). Every attempt first takes a
number from an atomic counter keyed by the identifier typed, whether or not an account exists,
so unknown identifiers behave exactly like known ones. Only attempts numbered up to the
threshold are evaluated: of 20 wrong passwords sent at once exactly 3 are checked, and the rest
are answered "locked" without touching the password hash. The failure that reaches the
threshold restarts the counter's clock, so the lock lasts the full duration from that moment;
when the counter expires the account is open again. A successful sign-in deletes the counter.

Throttling: failures from one source address are counted over a window; past the limit the
address is refused (HTTP 429) before any password is checked, which stops password spraying
across many accounts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app, request

from .. import audit


def _store():
    return current_app.extensions["idp.store"]


def _account_key(kind: str, identifier: str) -> str:
    return f"failures:{kind}:{identifier}"


def _address_key() -> str:
    return f"address-failures:{request.remote_addr}"


@dataclass(frozen=True)
class Attempt:
    """A numbered sign-in attempt for one identifier."""

    kind: str
    identifier: str
    number: int
    # When the account opens again, if this attempt may not be evaluated.
    locked_until: float | None

    @property
    def allowed(self) -> bool:
        return self.locked_until is None


def begin_attempt(kind: str, identifier: str) -> Attempt:
    config = current_app.config
    counter = _store().incr(_account_key(kind, identifier), config["LOCKOUT_DURATION"])
    if counter.value > config["LOCKOUT_THRESHOLD"]:
        return Attempt(kind, identifier, counter.value, counter.expires_at)
    return Attempt(kind, identifier, counter.value, None)


def record_failure(attempt: Attempt) -> float | None:
    """A wrong secret for this attempt; returns when the account opens again if it is now
    locked."""
    config = current_app.config
    store = _store()
    window = config["IP_FAILURE_WINDOW"]
    store.incr(_address_key(), window)
    if attempt.number < config["LOCKOUT_THRESHOLD"]:
        return None
    duration = config["LOCKOUT_DURATION"]
    store.extend(_account_key(attempt.kind, attempt.identifier), duration)
    audit.record(
        "account.locked", "locked", account=attempt.identifier, kind=attempt.kind, duration=duration
    )
    return time.time() + duration


def record_success(attempt: Attempt) -> None:
    _store().delete(_account_key(attempt.kind, attempt.identifier))


def unlock(kind: str, identifier: str, by: str) -> None:
    """Support opens a locked account (CLI or admin API)."""
    _store().delete(_account_key(kind, identifier))
    audit.record("account.unlocked", "ok", account=identifier, kind=kind, by=by)


def locked_until(kind: str, identifier: str) -> float | None:
    """When a locked account opens again; None if it is not locked."""
    counter = _store().count(_account_key(kind, identifier))
    if counter is None or counter.value < current_app.config["LOCKOUT_THRESHOLD"]:
        return None
    return counter.expires_at


def address_blocked_until() -> float | None:
    """When this source address may try again, if it has failed too often."""
    counter = _store().count(_address_key())
    if counter is None or counter.value < current_app.config["IP_FAILURE_LIMIT"]:
        return None
    return counter.expires_at
