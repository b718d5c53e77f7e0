"""Access tokens (RFC 9068 JWTs), refresh tokens (opaque, rotated) and ID tokens.

Why JWT access tokens: an agency's resource server can check a token with the published keys
alone, without a call per request, and the token path stays free of database writes for
client_credentials. Introspection stays authoritative: a token is active only if its signature,
issuer and expiry hold, its ``jti`` has not been revoked (RFC 7009), and its grant is still active.
The ``jti`` of a user's access token is ``<grant id>.<random>``, so revoking a grant (code replay,
refresh-token reuse, consent revocation, logout) turns all of its access tokens inactive at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from authlib.oidc.core.util import create_half_hash
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select, update

from .. import security
from ..config import SIGNING_ALGORITHMS
from ..models import Client, Grant, RefreshToken, RevokedToken, User, db
from .claims import subject_for

ACCESS_TOKEN_TYPE = "at+jwt"
# HKDF purpose of the key that seals a rotation's response under the old refresh token.
SUCCESSOR_PURPOSE = "refresh-token-successor"
# Only algorithms we sign with: a token is verified with the published key of its kid, and that
# key's alg must match the token's (RFC 7517 §4.4), so no algorithm confusion is possible.
VERIFY_ALGORITHMS = list(SIGNING_ALGORITHMS)


def _keystore():
    return current_app.extensions["idp.keystore"]


def sign(claims: dict, alg: str, typ: str | None = None) -> str:
    """A JWT signed with the current key of alg, its kid in the header."""
    key = _keystore().signing_key(alg)
    header = {"alg": alg, "kid": key.kid}
    if typ:
        header["typ"] = typ
    return jwt.encode(header, claims, key.jwk, algorithms=[alg])


def issue(
    client: Client,
    scope: str,
    user: User | None = None,
    grant: Grant | None = None,
    resources: list[str] | None = None,
    include_refresh_token: bool = False,
) -> dict:
    """The token response for client: an access token and, for user grants, a refresh token."""
    config = current_app.config
    now = int(time.time())
    lifetime = config["ACCESS_TOKEN_LIFETIME"]
    claims = {
        "iss": config["ISSUER"],
        "exp": now + lifetime,
        "iat": now,
        "client_id": client.client_id,
        "jti": security.generate_secret(12),
    }
    if grant is not None and user is not None:
        claims["jti"] = f"{grant.id}.{claims['jti']}"
        claims["sub"] = subject_for(user, client, config["PAIRWISE_SALT"])
        claims["auth_time"] = grant.auth_time
        if grant.acr:
            claims["acr"] = grant.acr
        audience = grant.resources
    else:
        claims["sub"] = client.client_id
        audience = resources or []
    # RFC 9068 §3: aud is the resource the token is for; without a resource indicator
    # (RFC 8707), the client's own back end.
    claims["aud"] = audience[0] if len(audience) == 1 else (audience or client.client_id)
    if scope:
        claims["scope"] = scope
    token = {
        "token_type": "Bearer",
        "access_token": sign(claims, config["ACCESS_TOKEN_SIGNING_ALG"], ACCESS_TOKEN_TYPE),
        "expires_in": lifetime,
    }
    if scope:
        token["scope"] = scope
    if include_refresh_token and grant is not None:
        secret = security.generate_secret()
        db.session.add(RefreshToken(token_hash=security.digest(secret), grant_id=grant.id))
        token["refresh_token"] = secret
    return token


@dataclass
class AccessToken:
    """A validated access token, as the userinfo endpoint and introspection see it."""

    claims: dict
    client: Client | None
    grant: Grant | None

    @property
    def scope(self) -> str:
        return self.claims.get("scope", "")

    def get_scope(self) -> str:
        return self.scope

    def get_client(self) -> Client | None:
        return self.client

    def get_user(self) -> User | None:
        return db.session.get(User, self.grant.user_id) if self.grant else None

    def is_expired(self) -> bool:
        return self.claims["exp"] <= time.time()

    def is_revoked(self) -> bool:
        return False  # validate_access_token returns only unrevoked tokens

    def check_client(self, client: Client) -> bool:
        return self.claims.get("client_id") == client.client_id


def validate_access_token(token_string: str) -> AccessToken | None:
    """The token if it is one of ours and active now; None for anything else."""
    try:
        token = jwt.decode(token_string, _keystore().public_keyset(), algorithms=VERIFY_ALGORITHMS)
    except (JoseError, ValueError, TypeError):
        return None
    claims = token.claims
    # The typ header keeps ID tokens and other JWTs we sign from passing as access tokens.
    if token.header.get("typ") != ACCESS_TOKEN_TYPE:
        return None
    if claims.get("iss") != current_app.config["ISSUER"]:
        return None
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        return None
    jti = claims.get("jti")
    if not isinstance(jti, str) or db.session.get(RevokedToken, jti) is not None:
        return None
    grant = None
    grant_id, dot, _ = jti.partition(".")
    if dot:
        grant = db.session.get(Grant, grant_id)
        if grant is None or not grant.active:
            return None
    client = db.session.execute(
        select(Client).where(Client.client_id == claims.get("client_id"))
    ).scalar()
    if client is None or client.disabled or not client.approved:
        return None
    return AccessToken(claims, client, grant)


def revoke_access_token(token: AccessToken) -> None:
    db.session.merge(RevokedToken(jti=token.claims["jti"], expires_at=token.claims["exp"]))
    db.session.commit()


def find_refresh_token(secret: str) -> RefreshToken | None:
    return db.session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == security.digest(secret))
    ).scalar()


def spend_refresh_token(token: RefreshToken) -> bool:
    """Mark token used; False if it was already used (only one concurrent caller wins)."""
    result = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
        .values(used_at=int(time.time()))
    )
    return result.rowcount == 1


def remember_successor(secret: str, client: Client, response: dict) -> None:
    """Keep the response that rotated refresh token `secret` for REFRESH_REUSE_INTERVAL, so
    that the same client retrying after a lost response gets it again (successor_of).

    Sealed under a key derived from `secret`: only who holds the old token can open it, so the
    store keeps nothing usable. Stored before the rotation is committed, so that a retry never
    finds the token spent and no successor.
    """
    interval = current_app.config["REFRESH_REUSE_INTERVAL"]
    if interval <= 0:
        return
    sealed, _ = security.seal(response, security.derived_key(secret, SUCCESSOR_PURPOSE))
    record = {
        "client_id": client.client_id,
        "successor": security.digest(response["refresh_token"]),
        "issued_at": time.time(),
        "sealed": sealed,
    }
    current_app.extensions["idp.store"].put(_successor_key(secret), record, interval)


def successor_of(secret: str, client: Client) -> dict | None:
    """The response that rotated `secret`, if it did so within REFRESH_REUSE_INTERVAL, for
    this client, and its refresh token is still unused; else None (reuse)."""
    record = current_app.extensions["idp.store"].get(_successor_key(secret))
    if record is None or record["client_id"] != client.client_id:
        return None
    successor = db.session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == record["successor"])
    ).scalar()
    if successor is None or successor.used_at is not None:
        return None  # the client went on with the successor: the old token came from elsewhere
    try:
        response = security.unseal(
            record["sealed"], security.derived_key(secret, SUCCESSOR_PURPOSE)
        )
    except security.SealBroken:
        return None
    # The same access token as before, so it has less time left.
    elapsed = int(time.time() - record["issued_at"])
    response["expires_in"] = max(0, response["expires_in"] - elapsed)
    return response


def _successor_key(secret: str) -> str:
    return f"refresh-successor:{security.digest(secret)}"


def revoke_grant(grant: Grant) -> None:
    """End a token family: its refresh tokens and access tokens stop working at once."""
    if grant.revoked_at is None:
        grant.revoked_at = int(time.time())
    db.session.commit()


def id_token(
    client: Client,
    user: User,
    grant: Grant,
    access_token: str | None = None,
    nonce: str | None = None,
) -> str:
    """An ID token with the authentication claims only; profile data comes from userinfo."""
    config = current_app.config
    now = int(time.time())
    alg = client.id_token_signed_response_alg or config["ID_TOKEN_SIGNING_ALG"]
    claims = {
        "iss": config["ISSUER"],
        "sub": subject_for(user, client, config["PAIRWISE_SALT"]),
        "aud": client.client_id,
        "azp": client.client_id,
        "exp": now + config["ID_TOKEN_LIFETIME"],
        "iat": now,
        "auth_time": grant.auth_time,
    }
    if nonce:
        claims["nonce"] = nonce
    if grant.acr:
        claims["acr"] = grant.acr
    if grant.amr:
        claims["amr"] = grant.amr
    if grant.sid:
        claims["sid"] = grant.sid
    if access_token:
        # OIDC Core §3.1.3.6: left half of the hash of the access token, hash by the alg.
        claims["at_hash"] = create_half_hash(access_token, alg).decode()
    return sign(claims, alg)
