"""OpenID Connect Back-Channel Logout 1.0, the provider's side.

When a sign-in ends (logout at one relying party, "sign out everywhere", a password change or
reset), every other relying party that took part in it is told directly, server to server: a
logout token (a JWT signed like ID tokens, `typ: logout+jwt`, with `sid`, `sub` and the logout
event) is POSTed to the client's registered `backchannel_logout_uri`. Every outcome is audited.

Deliveries run after the response, in a few worker threads shared by the process:
- The token is signed at each attempt, never when the logout is queued, so a retry or a long
  queue can never send an expired token.
- A retry waits in the schedule, not in a worker, and each destination (host and port) gets one
  attempt at a time: a relying party that is down or hangs holds at most one worker, and the
  others' logouts go on meanwhile.
- The schedule holds at most QUEUE_CAPACITY deliveries, and at most DESTINATION_CAPACITY for one
  destination; beyond that a delivery is dropped and audited as failed, so a flood of logouts
  cannot exhaust memory, and a relying party that hangs cannot crowd the others out.
- Every call goes through idp.outbound: never to an internal address, whatever DNS says now.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import select
from urllib3.exceptions import HTTPError

from .. import audit, outbound, security
from ..models import Client, User, db
from . import tokens
from .claims import subject_for

EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Pause before each attempt: at once, then after 1, 5 and 30 seconds (BACKCHANNEL_LOGOUT_ATTEMPTS
# says how many of them are used).
ATTEMPT_DELAYS = (0, 1, 5, 30)
# Signed just before it is sent: the lifetime covers the trip and the clocks' skew, not retries.
TOKEN_LIFETIME = 120
WORKERS = 8
QUEUE_CAPACITY = 10_000
DESTINATION_CAPACITY = 1_000


@dataclass(frozen=True)
class Delivery:
    """One logout token still to be delivered to one relying party."""

    app: Flask
    client_id: str
    uri: str
    alg: str
    sid: str
    sub: str
    account: str
    delays: tuple[int, ...]  # the pauses before this attempt and the ones after it
    reason: str = "unreachable"  # why the previous attempt failed

    @property
    def destination(self) -> str:
        parts = urlsplit(self.uri)
        return f"{parts.hostname}:{parts.port}"


def logout_token(delivery: Delivery) -> str:
    """The logout token for delivery, signed now (needs delivery.app's context)."""
    now = int(time.time())
    claims = {
        "iss": current_app.config["ISSUER"],
        "aud": delivery.client_id,
        "iat": now,
        "exp": now + TOKEN_LIFETIME,
        "jti": security.generate_secret(16),
        "sid": delivery.sid,
        "sub": delivery.sub,
        "events": {EVENT: {}},
    }
    return tokens.sign(claims, delivery.alg, typ="logout+jwt")


def notify(user: User, sid: str, client_ids: Iterable[str]) -> None:
    """Send a logout token for session sid to each of these clients that asked for them."""
    client_ids = set(client_ids)
    if not client_ids:
        return
    clients = db.session.execute(
        select(Client).where(
            Client.client_id.in_(client_ids), Client.backchannel_logout_uri.is_not(None)
        )
    ).scalars()
    app = current_app._get_current_object()
    config = app.config
    delays = ATTEMPT_DELAYS[: max(1, config["BACKCHANNEL_LOGOUT_ATTEMPTS"])]
    for client in clients:
        delivery = Delivery(
            app=app,
            client_id=client.client_id,
            uri=client.backchannel_logout_uri,
            alg=client.id_token_signed_response_alg or config["ID_TOKEN_SIGNING_ALG"],
            sid=sid,
            sub=subject_for(user, client, config["PAIRWISE_SALT"]),
            account=user.identifier,
            delays=delays,
        )
        if not _schedule.add(delivery):
            _record(delivery, "failed", "queue full")


def _attempt(delivery: Delivery) -> Delivery | None:
    """Send delivery once; the delivery to try again later, or None when it is done."""
    with delivery.app.app_context():
        policy = outbound.Policy.from_config(delivery.app.config)
        token = logout_token(delivery)
    try:
        answer = outbound.post_form(delivery.uri, {"logout_token": token}, policy)
    except outbound.Refused as refusal:
        _record(delivery, "failed", f"refused: {refusal}")
        return None  # the address will not change by waiting a few seconds
    except (HTTPError, OSError) as error:
        return _retry_or_give_up(delivery, type(error).__name__)
    if answer.status in (200, 204):
        _record(delivery, "ok", "")
        return None
    if answer.status < 500:
        # The client refused the token; sending it again changes nothing.
        _record(delivery, "failed", f"answered {answer.status}")
        return None
    return _retry_or_give_up(delivery, f"answered {answer.status}")


def _retry_or_give_up(delivery: Delivery, reason: str) -> Delivery | None:
    if len(delivery.delays) > 1:
        return replace(delivery, delays=delivery.delays[1:], reason=reason)
    _record(delivery, "failed", reason)
    return None


def _record(delivery: Delivery, outcome: str, reason: str) -> None:
    with delivery.app.app_context():
        audit.record(
            "logout.backchannel",
            outcome,
            account=delivery.account,
            client_id=delivery.client_id,
            reason=reason,
        )


class _Schedule:
    """Deliveries by the time they are due, taken by WORKERS threads started on first use, one
    attempt per destination at a time."""

    def __init__(self) -> None:
        # (when, order, destination, delivery): the destination once, not at every scan.
        self._due: list[tuple[float, int, str, Delivery]] = []
        self._order = itertools.count()  # ties keep their order; deliveries never compare
        self._busy: set[str] = set()
        self._queued: Counter[str] = Counter()  # deliveries per destination
        self._changed = threading.Condition()
        self._workers: list[threading.Thread] = []

    def add(self, delivery: Delivery) -> bool:
        """Schedule delivery's next attempt; False when the schedule is full."""
        with self._changed:
            destination = delivery.destination
            if (
                len(self._due) >= QUEUE_CAPACITY
                or self._queued[destination] >= DESTINATION_CAPACITY
            ):
                return False
            due = time.monotonic() + delivery.delays[0]
            self._due.append((due, next(self._order), destination, delivery))
            self._queued[destination] += 1
            while len(self._workers) < WORKERS:
                worker = threading.Thread(target=self._work, name="backchannel-logout", daemon=True)
                worker.start()
                self._workers.append(worker)
            self._changed.notify()
            return True

    def _take(self) -> Delivery:
        with self._changed:
            while True:
                now = time.monotonic()
                free = [entry for entry in self._due if entry[2] not in self._busy]
                ready = [entry for entry in free if entry[0] <= now]
                if ready:
                    entry = min(ready)
                    _, _, destination, delivery = entry
                    self._due.remove(entry)
                    self._queued[destination] -= 1
                    self._busy.add(destination)
                    return delivery
                waiting = [entry[0] for entry in free]
                self._changed.wait(max(0.0, min(waiting) - now) if waiting else None)

    def _release(self, destination: str) -> None:
        with self._changed:
            self._busy.discard(destination)
            self._changed.notify_all()

    def _work(self) -> None:
        while True:
            delivery = self._take()
            try:
                again = _attempt(delivery)
            except Exception:  # a worker must outlive any one delivery
                delivery.app.logger.exception("back-channel logout delivery failed")
                again = None
            self._release(delivery.destination)
            if again is not None and not self.add(again):
                _record(again, "failed", "queue full")


_schedule = _Schedule()
