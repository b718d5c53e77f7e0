"""What each scope releases, and the subject identifier a client sees.

Scopes are the unit of consent: the consent screen names them in plain words and the userinfo
endpoint releases exactly the claims of the consented scopes. The national number is released
only under its own scope ``nid``, never as ``sub`` (OIDC Core §2; docs/domain.md).
"""

from __future__ import annotations

import base64
import hashlib

from ..models import BUSINESS, CITIZEN, Client, User

# Scopes about a person; the rest are API scopes a client may register for its own resources.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("given_name", "family_name", "birthdate"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "nid": ("nid",),
    "business": ("nipt", "business_name"),
}
USER_SCOPES = frozenset(SCOPE_CLAIMS)
CLAIMS_SUPPORTED = tuple(dict.fromkeys(c for claims in SCOPE_CLAIMS.values() for c in claims))


def subject_for(user: User, client: Client, salt: str) -> str:
    """The `sub` this client sees: the public subject, or a pairwise one (OIDC Core §8.1)."""
    sector = client.pairwise_sector()
    if sector is None:
        return user.subject
    material = f"{sector}|{user.subject}|{salt}".encode()
    return base64.urlsafe_b64encode(hashlib.sha256(material).digest()).rstrip(b"=").decode()


def user_claims(user: User, scopes: list[str] | set[str]) -> dict:
    """Claims of the given scopes that this account has (without `sub`)."""
    values = {
        "given_name": user.given_name,
        "family_name": user.family_name,
        "birthdate": user.birthdate.isoformat() if user.birthdate else None,
        "email": user.email,
        "email_verified": bool(user.email_verified) if user.email else None,
        "phone_number": user.phone,
        "phone_number_verified": bool(user.phone_verified) if user.phone else None,
        "nid": user.identifier if user.kind == CITIZEN else None,
        "nipt": user.identifier if user.kind == BUSINESS else None,
        "business_name": user.business_name if user.kind == BUSINESS else None,
    }
    claims = {}
    for scope in scopes:
        for name in SCOPE_CLAIMS.get(scope, ()):
            if values.get(name) is not None:
                claims[name] = values[name]
    return claims
