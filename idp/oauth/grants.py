"""Authlib's grants, wired to our storage. Each subclass says only what differs.

- Authorization codes live in the short-lived store under their SHA-256 digest and are taken
  atomically, so a code works once even when two nodes redeem it at the same moment. A spent code
  leaves a marker naming its grant: a replay revokes every token issued from it (RFC 6749 §4.1.2).
- Refresh tokens rotate on every use; presenting a spent one revokes the whole family
  (RFC 9700 §4.14.2).
- PKCE accepts S256 only; public clients must use it (RFC 9700 §2.1.1).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from flask import current_app

from .. import audit, security
from ..models import Client, Grant, User, db
from . import tokens
from .claims import USER_SCOPES
from .resources import requested_resources

ALL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


def _store():
    return current_app.extensions["idp.store"]


@dataclass
class AuthorizationCode:
    """What an authorization code stands for, as Authlib's AuthorizationCodeMixin reads it."""

    client_id: str
    redirect_uri: str | None
    scope: str
    user_id: int
    sid: str
    auth_time: int
    acr: str
    amr: list[str]
    resources: list[str]
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    code_digest: str = ""

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return self.amr


def _active_user(user_id: int) -> User | None:
    user = db.session.get(User, user_id)
    return None if user is None or user.disabled else user


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def save_authorization_code(self, code: str, request) -> None:
        session = request.sso_session
        data = request.payload.data
        record = AuthorizationCode(
            client_id=request.client.client_id,
            redirect_uri=data.get("redirect_uri"),
            scope=request.scope,
            user_id=request.user.id,
            sid=session.sid,
            auth_time=session.auth_time,
            acr=session.acr,
            amr=session.amr,
            resources=request.resources,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            code_digest=security.digest(code),
        )
        lifetime = current_app.config["AUTHORIZATION_CODE_LIFETIME"]
        _store().put(f"code:{record.code_digest}", asdict(record), lifetime)

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        code_digest = security.digest(code)
        data = _store().take(f"code:{code_digest}")
        if data is None:
            spent = _store().get(f"spent-code:{code_digest}")
            if spent:
                grant = db.session.get(Grant, spent["grant_id"])
                if grant is not None:
                    tokens.revoke_grant(grant)
                audit.record(
                    "authorization_code.replayed",
                    "refused",
                    client_id=client.client_id,
                    grant=spent["grant_id"],
                )
            return None
        if data["client_id"] != client.client_id:
            audit.record("authorization_code.wrong_client", "refused", client_id=client.client_id)
            return None
        return AuthorizationCode(**data)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # The code was already taken from the store; remember which grant it produced.
        _store().put(
            f"spent-code:{authorization_code.code_digest}",
            {"grant_id": self.request.grant.id},
            current_app.config["REFRESH_TOKEN_LIFETIME"],
        )

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return _active_user(authorization_code.user_id)

    def generate_token(
        self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True
    ) -> dict:
        code: AuthorizationCode = self.request.authorization_code
        grant = Grant(
            id=security.generate_secret(12),
            user_id=user.id,
            client_id=code.client_id,
            scope=scope,
            resources=code.resources,
            sid=code.sid,
            auth_time=code.auth_time,
            acr=code.acr,
            amr=code.amr,
            expires_at=int(time.time()) + current_app.config["REFRESH_TOKEN_LIFETIME"],
        )
        db.session.add(grant)
        self.request.grant = grant
        return tokens.issue(
            self.request.client, scope, user, grant, include_refresh_token=include_refresh_token
        )


class PKCE(CodeChallenge):
    """RFC 7636 with S256 only; required of public clients, or of all with PKCE_REQUIRED=all."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri) -> None:
        data = grant.request.payload.data
        client: Client = grant.request.client
        required = client.is_public or current_app.config["PKCE_REQUIRED"] == "all"
        if required and not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with method S256")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            # Without a method RFC 7636 means "plain", which we refuse (RFC 9700 §2.1.1).
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDCode(oidc_grants.OpenIDCode):
    def exists_nonce(self, nonce: str, request) -> bool:
        # The nonce binds the ID token to the relying party's own session; the relying party
        # detects replay by checking it (OIDC Core §15.5.2). Codes themselves are single use.
        return False

    def encode_id_token(self, token: dict, request) -> str:
        code: AuthorizationCode = request.authorization_code
        return tokens.id_token(
            request.client, request.user, request.grant, token.get("access_token"), code.get_nonce()
        )


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str):
        token = tokens.find_refresh_token(refresh_token)
        if token is None or token.is_expired() or token.grant.revoked_at is not None:
            return None
        return token

    def authenticate_user(self, refresh_token) -> User | None:
        return _active_user(refresh_token.grant.user_id)

    def issue_token(self, user: User, refresh_token) -> dict:
        grant = refresh_token.grant
        client = self.request.client
        presented = self.request.form["refresh_token"]
        if not tokens.spend_refresh_token(refresh_token):
            # The same client retrying after a lost response, within REFRESH_REUSE_INTERVAL,
            # gets the same successor again; a parallel retry waits above for the first one's
            # commit (the row is locked), so it finds the successor too.
            again = tokens.successor_of(presented, client)
            if again is not None:
                audit.record("refresh_token.retried", "ok", client_id=client.client_id)
                return again
            # A spent token came back: it was stolen or replayed. End the family.
            tokens.revoke_grant(grant)
            audit.record(
                "refresh_token.reused", "refused", client_id=grant.client_id, grant=grant.id
            )
            raise InvalidGrantError("refresh token already used; the grant has been revoked")
        scope = self.request.payload.scope or grant.scope
        token = tokens.issue(client, scope, user, grant, include_refresh_token=True)
        # OIDC Core §12.2: a refresh may return a new ID token; same auth_time, no nonce.
        if "openid" in token.get("scope", "").split():
            token["id_token"] = tokens.id_token(client, user, grant, token["access_token"])
        tokens.remember_successor(presented, client, token)
        return token

    def revoke_old_credential(self, refresh_token) -> None:
        """Already spent atomically in issue_token."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """For agency back ends calling APIs on their own behalf: never user scopes."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        scope = self.request.payload.scope
        if scope and self.request.client.get_allowed_scope(scope) is None:
            raise InvalidScopeError("the client is not registered for this scope")
        if set((scope or "").split()) & USER_SCOPES:
            raise InvalidScopeError("client_credentials tokens carry no person's data")
        self.request.resources = requested_resources(self.request, self.request.client)

    def generate_token(
        self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=False
    ) -> dict:
        return tokens.issue(self.request.client, scope or "", resources=self.request.resources)
