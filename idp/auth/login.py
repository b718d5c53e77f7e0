"""Password authentication of an account, with the same answer and the same work whether or not
the account exists (no enumeration)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from .. import audit
from ..models import BUSINESS, CITIZEN, User, db
from . import identifiers


def find_account(identifier: str, kind: str | None) -> User | None:
    """The account for an identifier. Without a kind, a citizen account is preferred: a
    self-employed person's NIPT equals their NID, so the login page lets people choose."""
    kinds = [kind] if kind in (CITIZEN, BUSINESS) else [CITIZEN, BUSINESS]
    for candidate in kinds:
        user = db.session.execute(
            select(User).where(User.kind == candidate, User.identifier == identifier)
        ).scalar()
        if user is not None:
            return user
    return None


def account_kind(identifier: str, chosen: str | None) -> str | None:
    """The kind of account meant: a string that cannot be a NID can only be a NIPT."""
    if chosen == CITIZEN and not identifiers.is_valid_nid(identifier):
        return BUSINESS
    return chosen if chosen in (CITIZEN, BUSINESS) else None


def identifier_is_well_formed(identifier: str) -> bool:
    return identifiers.is_valid_nid(identifier) or identifiers.is_valid_nipt(identifier)


def authenticate(identifier: str, password: str, kind: str | None = None) -> User | None:
    """The account if identifier and password match an active account, else None."""
    identifier = identifiers.normalize(identifier)
    kind = account_kind(identifier, kind)
    passwords = current_app.extensions["idp.passwords"]
    user = find_account(identifier, kind)
    stored_hash = user.password_hash if user is not None and not user.disabled else None
    # Always one argon2id verification: unknown accounts verify against a dummy hash.
    if not passwords.verify(stored_hash, password):
        audit.record("login.password", "failed", account=identifier)
        return None
    if passwords.needs_rehash(stored_hash):
        user.password_hash = passwords.hash(password)
    audit.record("login.password", "ok", account=identifier)
    return user
