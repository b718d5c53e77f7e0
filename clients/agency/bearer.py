"""The API's side of bearer tokens: RFC 6750 challenges and RFC 9068 JWT access token checks.

The API trusts nothing the front end says: each request carries the provider's access token,
whose signature is checked against the provider's published keys, and which must be an access
token (not an ID token), from our issuer, unexpired, addressed to this API (RFC 8707 `aud`) and
carrying the scope the API needs.
"""

from __future__ import annotations

import time

from flask import current_app, request
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from ..common import provider

REALM = "agency"
# RFC 9068 §4: the typ header of a JWT access token; the full media type is accepted too.
ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}


class BearerError(Exception):
    """An RFC 6750 §3 error: its status and the WWW-Authenticate challenge that goes with it."""

    status = 401
    error: str | None = None

    def __init__(self, description: str | None = None, scope: str | None = None):
        super().__init__(description or self.error or "")
        self.description = description
        self.scope = scope

    def challenge(self) -> str:
        parts = [f'realm="{REALM}"']
        # RFC 6750 §3.1: without credentials, the challenge carries no error information.
        if self.error:
            parts.append(f'error="{self.error}"')
            if self.description:
                parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)


class MissingToken(BearerError):
    """RFC 6750 §3.1: no credentials, so no error code, only the challenge."""

    def __init__(self):
        super().__init__("a bearer access token is required")


class InvalidToken(BearerError):
    error = "invalid_token"


class InsufficientScope(BearerError):
    status = 403
    error = "insufficient_scope"


def token_from_request() -> str:
    """The bearer token of the Authorization header (RFC 6750 §2.1), else MissingToken."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise MissingToken()
    return token


def validate(token: str, required_scope: str) -> dict:
    """The claims of a valid access token for this API that has `required_scope`."""
    config = current_app.config
    try:
        decoded = _decode(token, refresh=False)
    except InvalidKeyIdError:
        # A key we have not seen: the provider may have rotated its keys.
        decoded = _decode(token, refresh=True)
    header, claims = decoded.header, decoded.claims
    # RFC 9068 §4: the typ keeps ID tokens and logout tokens from passing as access tokens.
    if header.get("typ") not in ACCESS_TOKEN_TYPES:
        raise InvalidToken("not an access token")
    if claims.get("iss") != config["ISSUER"]:
        raise InvalidToken("issued by another issuer")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        raise InvalidToken("expired")
    audience = claims.get("aud")
    audience = [audience] if isinstance(audience, str) else audience
    if not isinstance(audience, list) or config["API_AUDIENCE"] not in audience:
        # RFC 8707 / RFC 9068 §4: a token for another resource must not work here.
        raise InvalidToken("not issued for this API")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidToken("no subject")
    if required_scope not in str(claims.get("scope", "")).split():
        raise InsufficientScope(scope=required_scope)
    return claims


def _decode(token: str, refresh: bool):
    try:
        keys = KeySet.import_key_set(provider.load_jwks(refresh))
        return jwt.decode(token, keys, algorithms=provider.SIGNATURE_ALGORITHMS)
    except InvalidKeyIdError:
        if not refresh:
            raise
        raise InvalidToken("signed with an unknown key") from None
    except (JoseError, ValueError, TypeError):
        raise InvalidToken("malformed or badly signed") from None
