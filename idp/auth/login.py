"""Password authentication of an account: lockout first, the same answer and the same work
whether or not the account exists (no enumeration)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from .. import audit
from ..models import BUSINESS, CITIZEN, User, db
from . import identifiers, lockout


def account_kind(identifier: str, chosen: str | None) -> str:
    """The kind of account meant, from the input alone (never from whether accounts exist).

    A string that is not a NID can only be a NIPT. A NID-shaped string is a citizen unless the
    person chose "business" (a self-employed person's NIPT is their NID).
    """
    if chosen == BUSINESS or not identifiers.is_valid_nid(identifier):
        return BUSINESS
    return CITIZEN


def find_account(identifier: str, kind: str) -> User | None:
    return db.session.execute(
        select(User).where(User.kind == kind, User.identifier == identifier)
    ).scalar()


def identifier_is_well_formed(identifier: str) -> bool:
    return identifiers.is_valid_nid(identifier) or identifiers.is_valid_nipt(identifier)


@dataclass(frozen=True)
class PasswordCheck:
    user: User | None
    # Set when the password was not evaluated, or when its failure locked the account.
    denial: lockout.Denial | None = None


def check_password(identifier: str, password: str, chosen_kind: str | None) -> PasswordCheck:
    """First factor. Refused attempts (locked, busy, throttled) never evaluate the password."""
    identifier = identifiers.normalize(identifier)
    kind = account_kind(identifier, chosen_kind)
    attempt = lockout.begin(kind, identifier)
    on_device = attempt.on_device_counter
    if not attempt.allowed:
        audit.record("login.password", attempt.denial.reason.value, account=identifier, kind=kind)
        return PasswordCheck(None, attempt.denial)
    user = find_account(identifier, kind)
    passwords = current_app.extensions["idp.passwords"]
    stored_hash = user.password_hash if user is not None and not user.disabled else None
    # Always one argon2id verification: unknown accounts verify against a dummy hash.
    try:
        matches = passwords.verify(stored_hash, password)
    except BaseException:
        lockout.give_back(attempt)
        raise
    if not matches:
        audit.record(
            "login.password", "failed", account=identifier, kind=kind, trusted_device=on_device
        )
        return PasswordCheck(None, lockout.failed(attempt))
    lockout.succeeded(attempt)
    if passwords.needs_rehash(stored_hash):
        user.password_hash = passwords.hash(password)
        db.session.commit()
    audit.record("login.password", "ok", account=identifier, kind=kind, trusted_device=on_device)
    return PasswordCheck(user)
