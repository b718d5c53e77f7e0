"""One-time codes and the transactions they confirm.

A transaction is one thing a person is doing that needs codes: signing in, changing a password,
recovering an account, registering, changing a phone or e-mail. It lives in the short-lived
store; this browser knows it by an id in its (signed) session cookie. A transaction has steps;
each step is one 6-digit code sent to one or more destinations (sign-in: the phone by SMS and
the e-mail; registration: first the phone, then the e-mail).

Codes come from `secrets`, are stored only as an HMAC bound to the transaction (so a code from
one transaction never works for another, and a leaked store does not reveal them), expire after
OTP_LIFETIME, are compared in constant time and work once. A code exists only once a channel has
accepted it: when nothing could be sent, no code can succeed.

Wrong codes are counted twice, atomically: per transaction (past OTP_MAX_ATTEMPTS it ends) and,
for an account's transactions, per account across all of them (past OTP_ACCOUNT_MAX_FAILURES in
a row the account locks, idp.auth.lockout), so starting over never buys more guesses.

Sending is budgeted so that nobody can spend someone else's codes: codes to an account's own
contacts (sign-in, recovery, password change, the first step of a contact change) count per
account; codes to destinations nobody has proved yet (registration, a new phone or e-mail) count
per destination and per source address, and never touch the account budget. A new code replaces
the previous one after an exact cooldown, at most OTP_MAX_SENDS times per transaction.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import phonenumbers
from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from .. import audit
from ..delivery import DeliveryError, Message
from ..models import User
from . import lockout

SESSION_KEY = "transaction"
KEY = "transaction:{}"
# What happens when the last code of a transaction is confirmed, per purpose.
_COMPLETIONS: dict[str, Callable] = {}
# The (text, subject) of a purpose's code message; text has {code} and {minutes}.
_MESSAGES: dict[str, Callable[[], tuple[str, str]]] = {}


@dataclass
class Destination:
    channel: str  # "sms" or "email"
    to: str
    # A contact on record of the transaction's account: its codes count on the account's budget.
    own: bool = False


@dataclass
class Transaction:
    id: str
    purpose: str
    identifier: str
    kind: str
    # Remaining steps; each is the list of destinations of one code. steps[0] is current.
    steps: list[list[dict]]
    user_id: int | None = None
    login_challenge: str | None = None
    # Purpose-specific data (e.g. the new password's hash until its code is confirmed).
    data: dict = field(default_factory=dict)
    code_digest: str = ""
    code_expires_at: float = 0
    last_sent_at: float = 0
    # Channels the current code actually reached.
    delivered: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    @property
    def destinations(self) -> list[Destination]:
        return [Destination(**d) for d in self.steps[0]] if self.steps else []

    @property
    def email_only_for_a_foreign_phone(self) -> bool:
        """The code goes by e-mail alone because the phone is not Albanian (docs/domain.md). Not
        so for a registration's e-mail step after its Albanian phone had a code of its own."""
        if [destination.channel for destination in self.destinations] != ["email"]:
            return False
        if self.purpose == "register":
            return not is_albanian(self.data.get("phone"))
        return self.purpose in ("login", "reset")


class Check(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    NOT_SENT = "not_sent"  # no channel accepted a code: there is none to enter
    ENDED = "ended"  # too many wrong codes, or the transaction is gone
    LOCKED = "locked"  # too many wrong codes for the account: it is locked


class Resend(enum.Enum):
    SENT = "sent"
    FAILED = "failed"  # no channel accepted the new code; the previous one still works
    COOLDOWN = "cooldown"
    EXHAUSTED = "exhausted"  # OTP_MAX_SENDS codes went out: no more for this transaction


def _store():
    return current_app.extensions["idp.store"]


def is_albanian(phone: str | None) -> bool:
    """SMS goes only to Albanian numbers (+355); others get their codes by e-mail."""
    if not phone:
        return False
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, "AL")) == "AL"
    except phonenumbers.NumberParseException:
        return False


def sign_in_destinations(user: User) -> list[dict]:
    """Where a sign-in code goes: SMS to an Albanian phone and always the e-mail."""
    destinations = []
    if is_albanian(user.phone):
        destinations.append({"channel": "sms", "to": user.phone, "own": True})
    if user.email:
        destinations.append({"channel": "email", "to": user.email, "own": True})
    return destinations


def start(
    purpose: str,
    identifier: str,
    kind: str,
    steps: list[list[dict]],
    user: User | None = None,
    login_challenge: str | None = None,
    data: dict | None = None,
) -> Transaction:
    """Begin a transaction for this browser (replacing any earlier one)."""
    end()
    transaction = Transaction(
        id=secrets.token_urlsafe(24),
        purpose=purpose,
        identifier=identifier,
        kind=kind,
        steps=steps,
        user_id=user.id if user else None,
        login_challenge=login_challenge,
        data=data or {},
    )
    save(transaction)
    session[SESSION_KEY] = transaction.id
    return transaction


def current(purpose: str | None = None) -> Transaction | None:
    """This browser's live transaction (of the given purpose), or None."""
    transaction_id = session.get(SESSION_KEY)
    if not transaction_id:
        return None
    data = _store().get(KEY.format(transaction_id))
    if data is None:
        return None
    transaction = Transaction(**data)
    if purpose is not None and transaction.purpose != purpose:
        return None
    return transaction


def save(transaction: Transaction) -> None:
    lifetime = current_app.config["LOGIN_TRANSACTION_LIFETIME"]
    ttl = max(1, int(transaction.created_at + lifetime - time.time()))
    _store().put(KEY.format(transaction.id), asdict(transaction), ttl)


def end() -> None:
    transaction_id = session.pop(SESSION_KEY, None)
    if transaction_id:
        _store().delete(KEY.format(transaction_id))


def seconds_left(transaction: Transaction) -> int:
    return max(0, int(transaction.code_expires_at - time.time()))


def cooldown_left(transaction: Transaction) -> int:
    """Whole seconds until another code may be asked for, rounded up (the page's countdown)."""
    cooldown = current_app.config["OTP_RESEND_COOLDOWN"]
    return max(0, math.ceil(transaction.last_sent_at + cooldown - time.time()))


def sends_left(transaction: Transaction) -> int:
    sends = _store().count(_sends_key(transaction))
    return max(0, current_app.config["OTP_MAX_SENDS"] - (sends.value if sends else 0))


def _sends_key(transaction: Transaction) -> str:
    return f"transaction-sends:{transaction.id}"


def _cooldown_key(transaction: Transaction) -> str:
    return f"transaction-cooldown:{transaction.id}"


def _digest(transaction: Transaction, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{transaction.id}:{code}".encode(), hashlib.sha256).hexdigest()


def _destination_tag(destination: Destination) -> str:
    """A store key for a phone or e-mail: keyed, so a leaked store does not list them."""
    key = current_app.config["SECRET_KEY"].encode()
    name = f"{destination.channel}:{destination.to.lower()}".encode()
    return hmac.new(key, name, hashlib.sha256).hexdigest()[:32]


def resend(transaction: Transaction) -> Resend:
    """Another code, if the cooldown has passed (exactly) and sends are left."""
    if sends_left(transaction) <= 0:
        return Resend.EXHAUSTED
    # One atomic claim of the next send: of two resends at the same moment only one sends.
    if not _store().add(_cooldown_key(transaction), {}, current_app.config["OTP_RESEND_COOLDOWN"]):
        return Resend.COOLDOWN
    failed = send_code(transaction, *message_for(transaction))
    return Resend.FAILED if len(failed) == len(transaction.destinations) else Resend.SENT


def send_code(transaction: Transaction, text: str, subject: str) -> list[Destination]:
    """Send a fresh code to the current step's destinations; returns those that failed.

    `text` contains ``{code}`` and ``{minutes}``. The new code replaces the previous one only if
    at least one channel accepted it: a code nobody received is never stored.
    """
    config = current_app.config
    store = _store()
    sends = store.incr(_sends_key(transaction), config["LOGIN_TRANSACTION_LIFETIME"])
    if sends.value > config["OTP_MAX_SENDS"]:
        return transaction.destinations
    code = f"{secrets.randbelow(10**6):06d}"
    body = text.format(code=code, minutes=max(1, config["OTP_LIFETIME"] // 60))
    senders = current_app.extensions["idp.senders"]
    account_budget = _account_budget_left(transaction)
    delivered, failed = [], []
    for destination in transaction.destinations:
        message = Message(
            to=destination.to, channel=destination.channel, text=body, subject=subject
        )
        try:
            _within_budget(transaction, destination, account_budget)
            senders[destination.channel].send(message)
        except DeliveryError as error:
            failed.append(destination)
            _audit_send(transaction, destination, "failed", reason=str(error))
            continue
        delivered.append(destination.channel)
        _audit_send(transaction, destination, "ok")
    if delivered:
        transaction.code_digest = _digest(transaction, code)
        transaction.code_expires_at = time.time() + config["OTP_LIFETIME"]
        transaction.last_sent_at = time.time()
        transaction.delivered = delivered
        store.put(_cooldown_key(transaction), {}, config["OTP_RESEND_COOLDOWN"])
        save(transaction)
    return failed


def _audit_send(transaction: Transaction, destination: Destination, outcome: str, **detail):
    audit.record(
        "code.sent",
        outcome,
        account=transaction.identifier,
        channel=destination.channel,
        purpose=transaction.purpose,
        **detail,
    )


def _account_budget_left(transaction: Transaction) -> bool:
    """One more code to the account's own contacts within OTP_MAX_PER_ACCOUNT_HOUR (counted
    once per code, however many of its contacts it goes to)."""
    if transaction.user_id is None or not any(d.own for d in transaction.destinations):
        return True
    key = f"sends-account:{transaction.kind}:{transaction.identifier}"
    return _store().incr(key, 3600).value <= current_app.config["OTP_MAX_PER_ACCOUNT_HOUR"]


def _within_budget(transaction: Transaction, destination: Destination, account_left: bool):
    """Raise DeliveryError when this code is over its budget.

    An account's own contacts: the account's budget (nobody else can spend it: it takes the
    account's password, session or security answer). A destination nobody has proved (typed into
    registration or a contact change): per destination and per source address, so the forms can
    neither flood someone's phone nor run up the SMS bill (SMS pumping).
    """
    config = current_app.config
    if destination.own and transaction.user_id is not None:
        if not account_left:
            raise DeliveryError("too many codes for this account in the last hour")
        return
    store = _store()
    per_destination = store.incr(f"sends-to:{_destination_tag(destination)}", 3600)
    per_address = store.incr(f"sends-from:{request.remote_addr}", 3600)
    if per_address.value > config["OTP_MAX_PER_ADDRESS_HOUR"]:
        raise DeliveryError("too many codes requested from this address in the last hour")
    if per_destination.value > config["OTP_MAX_PER_DESTINATION_HOUR"]:
        raise DeliveryError("too many codes to this destination in the last hour")


def check_code(transaction: Transaction, submitted: str) -> Check:
    """Judge a submitted code; on OK the current step is done (and saved)."""
    config = current_app.config
    store = _store()
    account = (transaction.kind, transaction.identifier) if transaction.user_id else None
    if account and _locked_by_codes_since_start(transaction):
        end()
        return Check.LOCKED
    attempts = store.incr(
        f"transaction-attempts:{transaction.id}", config["LOGIN_TRANSACTION_LIFETIME"]
    )
    if attempts.value > config["OTP_MAX_ATTEMPTS"]:
        _audit_check(transaction, "ended")
        end()
        return Check.ENDED
    if not transaction.code_digest:
        return Check.NOT_SENT
    if time.time() > transaction.code_expires_at:
        return Check.EXPIRED
    candidate = "".join(ch for ch in submitted if ch.isdigit())[:6]
    if not hmac.compare_digest(_digest(transaction, candidate), transaction.code_digest):
        _audit_check(transaction, "failed")
        if account and lockout.code_failed(*account) is not None:
            end()
            return Check.LOCKED
        if attempts.value == config["OTP_MAX_ATTEMPTS"]:
            end()
            return Check.ENDED
        return Check.WRONG
    # Single use even when the same right code arrives twice at once: one caller marks it.
    if not store.add(f"code-used:{transaction.code_digest}", {}, config["OTP_LIFETIME"]):
        return Check.ENDED
    if account:
        lockout.code_succeeded(*account)
    _audit_check(transaction, "ok", channels=transaction.delivered)
    transaction.steps.pop(0)
    transaction.code_digest = ""
    transaction.data.setdefault("verified_channels", []).extend(transaction.delivered)
    save(transaction)
    return Check.OK


def _locked_by_codes_since_start(transaction: Transaction) -> bool:
    """Wrong codes locked the account after this transaction began: it belongs to the guesser
    (or raced them), so it ends. Transactions begun during a lock (recovery, the owner's trusted
    browser) go on, and so do those of a lock by wrong passwords: their password was right."""
    lock = lockout.lock_of(transaction.kind, transaction.identifier)
    return lock is not None and lock.cause == lockout.CODE and transaction.created_at < lock.at


def _audit_check(transaction: Transaction, outcome: str, **detail) -> None:
    audit.record(
        "code.verified",
        outcome,
        account=transaction.identifier,
        purpose=transaction.purpose,
        **detail,
    )


def on_complete(purpose: str, message: Callable[[], tuple[str, str]] | None = None):
    """Register what finishes a purpose's transaction (and the text of its codes)."""

    def register(function: Callable) -> Callable:
        _COMPLETIONS[purpose] = function
        if message is not None:
            _MESSAGES[purpose] = message
        return function

    return register


def begin_for_account(purpose: str, user: User, **options):
    """Start a one-step transaction whose code goes where the account's sign-in codes go, send
    it, and show the code page; or say that the account has nowhere to send it."""
    destinations = sign_in_destinations(user)
    if not destinations:
        end()
        audit.record(
            "code.sent", "failed", account=user.identifier, purpose=purpose, reason="no contact"
        )
        return render_template("no_contact.html"), 403
    transaction = start(purpose, user.identifier, user.kind, [destinations], user=user, **options)
    send_code(transaction, *_MESSAGES[purpose]())
    return redirect(url_for("auth.code"), code=303)


def complete(transaction: Transaction):
    """The current step was confirmed: send the next step's code, or finish the transaction."""
    if transaction.steps:
        send_code(transaction, *message_for(transaction))
        return redirect(url_for("auth.code"), code=303)
    return _COMPLETIONS[transaction.purpose](transaction)


def message_for(transaction: Transaction) -> tuple[str, str]:
    return _MESSAGES[transaction.purpose]()


def mask(destination: Destination) -> str:
    """A destination shown on the page without revealing it whole."""
    if destination.channel == "email":
        local, _, domain = destination.to.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{destination.to[:4]} *** ** {destination.to[-2:]}"


def channel_name(channel: str) -> str:
    return _("SMS") if channel == "sms" else _("e-mail")
