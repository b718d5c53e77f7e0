"""Account lockout, and throttling of failed attempts per source address.

e-Albania's rule stays: 3 wrong passwords in a row lock the account for 3 hours. Around it, so
that the lock stops attackers without being turned against the citizen:

- Failures and evaluations in flight are counted apart, atomically in the store. An attempt is
  evaluated only while failures + evaluations in flight stay within the threshold, and the one
  that could lock runs alone; any other is asked to try again in a moment (HTTP 429), never told
  "locked". A right password never adds a failure. So parallel right passwords never lock, and 20
  parallel wrong ones cost at most 3 argon2id verifications.
- A lock is a record of its own (when, why, from which network, from which trusted browser), so
  the locked page and the owner's notice can say what happened, and wrong one-time codes lock
  the same way (`code_failed`, NIST SP 800-63B §5.2.2).
- One source address may drive at most ADDRESS_MAX_LOCKS accounts into lockout per
  ADDRESS_LOCK_WINDOW: the attempt that could lock takes one of the address's locks first, so
  spraying known NIDs from one place locks only a few.
- A browser where the account completed a sign-in before (idp.auth.devices) may still try while
  the account is locked from elsewhere, with a counter of its own (OWASP device cookies).
- Wrong security answers lock only recovery (its own counter and record); recovery works while
  the account is locked and, when complete, unlocks it (idp.auth.recovery_views).
- Unknown identifiers go through exactly the same counters: nobody learns which NIDs exist.

Failures from one source address are also counted over IP_FAILURE_WINDOW; past IP_FAILURE_LIMIT
the address is refused (HTTP 429) before any secret is checked (password spraying). Attempts
refused as "locked" count there too, so hammering locked accounts is no free probe.
"""

from __future__ import annotations

import enum
import ipaddress
import time
from dataclasses import asdict, dataclass

from flask import current_app, request
from sqlalchemy import select

from .. import audit
from ..models import User, db
from . import devices, notices

PASSWORD = "password"
ANSWER = "answer"  # the security answer, in recovery
CODE = "code"  # one-time codes, counted across transactions (idp.auth.codes)

# A slot of an evaluation in flight expires by itself if the worker holding it dies.
IN_FLIGHT_TTL = 60
# "Try again in a moment": an argon2id verification takes well under a second.
BUSY_RETRY_AFTER = 2
# NIST counts consecutive wrong codes with no time window; this only lets the store forget the
# counter of an account nobody has tried for a month.
CODE_FAILURE_MEMORY = 30 * 86400


class Refusal(enum.Enum):
    LOCKED = "locked"  # the account (or its recovery) is locked: 403
    BUSY = "busy"  # other attempts for this account are being checked: 429, try again soon
    THROTTLED = "throttled"  # too many failures or locks from this address: 429


@dataclass(frozen=True)
class Lock:
    until: float
    at: float
    cause: str  # PASSWORD, ANSWER or CODE
    network: str  # the coarse source address of the attempt that locked
    device: str | None = None  # the trusted browser the locking attempt came from


@dataclass(frozen=True)
class Denial:
    """Why an attempt was not evaluated, or the lock its failure caused."""

    reason: Refusal
    until: float
    lock: Lock | None = None


@dataclass(frozen=True)
class Attempt:
    """One guess at an account's secret, admitted (denial None) or refused."""

    kind: str
    identifier: str
    secret: str
    counter: str  # the failure counter this attempt is judged by
    device: str | None  # the trusted browser it comes from, if any
    denial: Denial | None = None
    takes_address_lock: bool = False

    @property
    def allowed(self) -> bool:
        return self.denial is None

    @property
    def on_device_counter(self) -> bool:
        return self.counter != _failures_key(self.secret, self.kind, self.identifier)


def _store():
    return current_app.extensions["idp.store"]


def _scope(secret: str) -> str:
    """Wrong passwords and codes lock the account; wrong security answers only its recovery."""
    return "recovery" if secret == ANSWER else "account"


def _failures_key(secret: str, kind: str, identifier: str) -> str:
    return f"failures:{secret}:{kind}:{identifier}"


def _lock_key(scope: str, kind: str, identifier: str) -> str:
    return f"lock:{scope}:{kind}:{identifier}"


def _address_failures_key() -> str:
    return f"address-failures:{request.remote_addr}"


def _address_locks_key() -> str:
    return f"address-locks:{request.remote_addr}"


def _value(counter) -> int:
    return 0 if counter is None else counter.value


def coarse_address(address: str | None) -> str:
    """The network an address belongs to (/24, IPv6 /48): enough to recognise, not to track."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "?"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def lock_of(kind: str, identifier: str, secret: str = PASSWORD) -> Lock | None:
    """The lock in force on the account (or, for ANSWER, on its recovery), if any."""
    data = _store().get(_lock_key(_scope(secret), kind, identifier))
    return Lock(**data) if data else None


def locked_until(kind: str, identifier: str) -> float | None:
    """When a locked account opens again; None if it is not locked."""
    lock = lock_of(kind, identifier)
    return lock.until if lock else None


def address_blocked_until() -> float | None:
    """When this source address may try again, if it has failed too often."""
    counter = _store().count(_address_failures_key())
    if counter is None or counter.value < current_app.config["IP_FAILURE_LIMIT"]:
        return None
    return counter.expires_at


def count_address_failure() -> None:
    _store().incr(_address_failures_key(), current_app.config["IP_FAILURE_WINDOW"])


def begin(kind: str, identifier: str, secret: str = PASSWORD) -> Attempt:
    """Admit a guess at the account's password (or security answer) for evaluation, or refuse it.

    Every admitted attempt must end with `failed` or `succeeded`, which give its slot back.
    """
    config = current_app.config
    store = _store()

    def refused(reason: Refusal, until: float, lock: Lock | None = None) -> Attempt:
        denial = Denial(reason, until, lock)
        return Attempt(kind, identifier, secret, counter, device, denial)

    device = devices.trusted_for(kind, identifier) if secret == PASSWORD else None
    counter = _failures_key(secret, kind, identifier)
    blocked_until = address_blocked_until()
    if blocked_until is not None:
        return refused(Refusal.THROTTLED, blocked_until)
    lock = lock_of(kind, identifier, secret)
    if lock is not None:
        if device is None or device == lock.device:
            count_address_failure()
            return refused(Refusal.LOCKED, lock.until, lock)
        # The owner's browser, while others locked the account: attempts of its own.
        counter = f"{counter}:device:{device}"
    in_flight = f"{counter}:in-flight"
    slots = store.incr(in_flight, IN_FLIGHT_TTL).value
    failures = store.count(counter)
    threshold = config["LOCKOUT_THRESHOLD"]
    if _value(failures) >= threshold:
        # This browser's own attempts are used up too (or a lock is being written right now).
        store.decr(in_flight)
        count_address_failure()
        return refused(Refusal.LOCKED, max(failures.expires_at, lock.until if lock else 0), lock)
    remaining = threshold - _value(failures)
    # The attempt that could lock runs alone, so the failure that locks is always its own.
    if slots > remaining or (slots == remaining and slots > 1):
        store.decr(in_flight)
        return refused(Refusal.BUSY, time.time() + BUSY_RETRY_AFTER)
    # The owner's own browser is no sprayer: its attempt that could lock needs no address slot.
    takes_address_lock = slots == remaining and lock is None and device is None
    if takes_address_lock:
        locks = store.incr(_address_locks_key(), config["ADDRESS_LOCK_WINDOW"])
        if locks.value > config["ADDRESS_MAX_LOCKS"]:
            store.decr(_address_locks_key())
            store.decr(in_flight)
            return refused(Refusal.THROTTLED, locks.expires_at)
    return Attempt(kind, identifier, secret, counter, device, None, takes_address_lock)


def failed(attempt: Attempt) -> Denial | None:
    """A wrong secret for an admitted attempt; the denial of the lock it caused, if any."""
    config = current_app.config
    store = _store()
    failures = store.incr(attempt.counter, config["LOCKOUT_DURATION"])
    store.decr(f"{attempt.counter}:in-flight")
    count_address_failure()
    if failures.value < config["LOCKOUT_THRESHOLD"]:
        if attempt.takes_address_lock:
            store.decr(_address_locks_key())  # unlocked meanwhile by support or recovery
        return None
    if attempt.on_device_counter:
        # The owner's browser used its own attempts up; the account's lock stays as it was.
        store.extend(attempt.counter, config["LOCKOUT_DURATION"])
        lock = lock_of(attempt.kind, attempt.identifier, attempt.secret)
        return Denial(Refusal.LOCKED, time.time() + config["LOCKOUT_DURATION"], lock)
    lock = _lock(attempt.kind, attempt.identifier, attempt.secret, attempt.device)
    return Denial(Refusal.LOCKED, lock.until, lock)


def succeeded(attempt: Attempt) -> None:
    """A right secret: its slot is given back and the failures in a row start again from 0."""
    give_back(attempt)
    _store().delete(attempt.counter)


def give_back(attempt: Attempt) -> None:
    """The secret could not be checked at all (e.g. the hasher was busy): no failure counted."""
    store = _store()
    store.decr(f"{attempt.counter}:in-flight")
    if attempt.takes_address_lock:
        store.decr(_address_locks_key())


def code_failed(kind: str, identifier: str) -> Lock | None:
    """A wrong one-time code in any of the account's transactions; the lock once
    OTP_ACCOUNT_MAX_FAILURES of them came in a row."""
    config = current_app.config
    store = _store()
    failures = store.incr(_failures_key(CODE, kind, identifier), CODE_FAILURE_MEMORY)
    limit = config["OTP_ACCOUNT_MAX_FAILURES"]
    if failures.value < limit:
        return None
    if failures.value > limit:
        # A concurrent failure reached the limit first and is locking the account.
        return lock_of(kind, identifier)
    return _lock(kind, identifier, CODE, devices.trusted_for(kind, identifier))


def code_succeeded(kind: str, identifier: str) -> None:
    _store().delete(_failures_key(CODE, kind, identifier))


def _lock(kind: str, identifier: str, secret: str, device: str | None) -> Lock:
    """Lock the account (or its recovery) for LOCKOUT_DURATION, audited, the owner told."""
    duration = current_app.config["LOCKOUT_DURATION"]
    now = time.time()
    lock = Lock(
        until=now + duration,
        at=now,
        cause=secret,
        network=coarse_address(request.remote_addr),
        device=device,
    )
    store = _store()
    store.put(_lock_key(_scope(secret), kind, identifier), asdict(lock), duration)
    # The failures stay counted until the lock ends, and end with it: an attempt that found no
    # lock a moment ago still finds the account's attempts used up, never a fresh count.
    store.extend(_failures_key(secret, kind, identifier), duration)
    event = "recovery.locked" if secret == ANSWER else "account.locked"
    audit.record(event, "locked", account=identifier, kind=kind, cause=secret, network=lock.network)
    user = db.session.execute(
        select(User).where(User.kind == kind, User.identifier == identifier)
    ).scalar()
    if user is not None:
        notices.account_locked(user, lock)
    return lock


def unlock(kind: str, identifier: str, by: str) -> None:
    """Open the account and its recovery (support, the admin API, or a completed recovery)."""
    store = _store()
    for scope in ("account", "recovery"):
        store.delete(_lock_key(scope, kind, identifier))
    for secret in (PASSWORD, ANSWER, CODE):
        store.delete(_failures_key(secret, kind, identifier))
    audit.record("account.unlocked", "ok", account=identifier, kind=kind, by=by)
