"""Authlib's endpoints for revocation, introspection, userinfo, logout and client assertions."""

from __future__ import annotations

import time

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    MissingAuthorizationError,
)
from authlib.oauth2.rfc6750 import (
    BearerTokenValidator,
    InsufficientScopeError,
    InvalidTokenError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import current_app
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .. import security
from ..config import SIGNING_ALGORITHMS
from ..models import Client, RefreshToken, User, db
from . import tokens
from .claims import subject_for, user_claims
from .errors import describe
from .grants import ALL_AUTH_METHODS


def _query(token_string: str, hint: str | None) -> tokens.AccessToken | RefreshToken | None:
    """Find a token of ours by its string; the hint only decides which kind is tried first."""
    finders = [tokens.validate_access_token, tokens.find_refresh_token]
    if hint == "refresh_token":
        finders.reverse()
    for find in finders:
        token = find(token_string)
        if token is not None:
            return token
    return None


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None):
        return _query(token_string, token_type_hint)

    def revoke_token(self, token, request) -> None:
        if isinstance(token, RefreshToken):
            # RFC 7009 §2.1: revoking a refresh token ends the access tokens of its grant too.
            tokens.revoke_grant(token.grant)
        else:
            tokens.revoke_access_token(token)


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662 for authenticated clients: each sees its own tokens and those addressed to it."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def query_token(self, token_string: str, token_type_hint: str | None):
        return _query(token_string, token_type_hint)

    def check_permission(self, token, client: Client, request) -> bool:
        if token.check_client(client):
            return True
        if isinstance(token, tokens.AccessToken):
            audience = token.claims.get("aud")
            audience = [audience] if isinstance(audience, str) else audience
            return client.client_id in audience
        return False

    def introspect_token(self, token) -> dict:
        issuer = current_app.config["ISSUER"]
        if isinstance(token, tokens.AccessToken):
            claims = token.claims
            payload = {
                key: claims[key]
                for key in (
                    "scope",
                    "client_id",
                    "sub",
                    "aud",
                    "iss",
                    "exp",
                    "iat",
                    "jti",
                    "auth_time",
                    "acr",
                )
                if key in claims
            }
            payload["token_type"] = "Bearer"
            return payload
        grant = token.grant
        client = db.session.execute(
            db.select(Client).where(Client.client_id == grant.client_id)
        ).scalar()
        user = db.session.get(User, grant.user_id)
        return {
            "scope": grant.scope,
            "client_id": grant.client_id,
            "sub": subject_for(user, client, current_app.config["PAIRWISE_SALT"]),
            "iss": issuer,
            "exp": grant.expires_at,
            "iat": token.issued_at,
        }


def bearer_challenge(**attributes: str) -> tuple[str, str]:
    """RFC 6750 §3: the WWW-Authenticate header that goes with a Bearer-protected error."""
    parts = [f'realm="{current_app.config["ISSUER"]}"']
    parts += [f'{name}="{value}"' for name, value in attributes.items()]
    return "WWW-Authenticate", "Bearer " + ", ".join(parts)


class BearerTokenMissing(OAuth2Error):
    """RFC 6750 §3.1: a request without credentials gets the challenge, but no error code."""

    status_code = 401

    def get_body(self) -> list:
        return [("error_description", "a Bearer access token is required")]

    def get_headers(self) -> list:
        return [*super().get_headers(), bearer_challenge()]


class InsufficientScope(InsufficientScopeError):
    """RFC 6750 §3 and OIDC Core §5.3.3: the 403 names the error and the scope needed in its
    challenge too (Authlib's error has no challenge)."""

    def __init__(self, scopes: list[str]):
        super().__init__()
        self.scopes = scopes

    def get_headers(self) -> list:
        challenge = bearer_challenge(error=self.error, scope=" ".join(self.scopes))
        return [*super().get_headers(), challenge]


class AccessTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str):
        return tokens.validate_access_token(token_string)

    def validate_token(self, token, scopes, request):
        try:
            super().validate_token(token, scopes, request)
        except InsufficientScopeError:
            raise InsufficientScope(scopes) from None


class BearerProtector(ResourceProtector):
    def parse_request_authorization(self, request):
        # RFC 6750 §2.2: a form-encoded POST body may carry the token instead of the header.
        form_token = (
            flask_request.form.get("access_token") if flask_request.method == "POST" else None
        )
        if form_token and "Authorization" not in request.headers:
            return self.get_token_validator("bearer"), form_token
        try:
            return super().parse_request_authorization(request)
        except MissingAuthorizationError:
            raise BearerTokenMissing() from None


class UserInfoEndpoint(_UserInfoEndpoint):
    def __call__(self, request):
        # Authlib's generate_user_info(user, scope) cannot see the client, and `sub` depends on
        # it (pairwise subjects), so the response is built here from the validated token.
        token = self.resource_protector.acquire_token("openid")
        user = token.get_user()
        if user is None or user.disabled:
            raise InvalidTokenError()
        scopes = token.scope.split()
        info = {"sub": subject_for(user, token.client, current_app.config["PAIRWISE_SALT"])}
        info.update(user_claims(user, scopes))
        return 200, info, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]


# Signature algorithms accepted in client assertions: asymmetric only (no HS256 with a public
# key), and what every JOSE library of the agencies supports.
CLIENT_ASSERTION_ALGORITHMS = ["RS256", "ES256"]


class PrivateKeyJWT(JWTBearerClientAssertion):
    """private_key_jwt (RFC 7523 §2.2, OIDC Core §9) against the client's registered JWKS."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def extract_assertion(self, assertion: str):
        # Authlib parses the claims (before any signature check) with json.loads, which fails
        # with RecursionError, not the ValueError Authlib expects, on claims nested too deep.
        try:
            return super().extract_assertion(assertion)
        except RecursionError:
            raise InvalidClientError(description="Invalid JWT payload.") from None

    def process_assertion_claims(self, assertion, resolve_key):
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=CLIENT_ASSERTION_ALGORITHMS)
        except JoseError as error:
            # joserfc quotes the assertion's own header (kid, alg, crit) in its description.
            raise InvalidClientError(description=describe(error.description)) from None
        self.verify_claims(token.claims)
        return token.claims

    def get_audiences(self) -> list[str]:
        return [current_app.config["ISSUER"]]

    def verify_claims(self, claims: dict) -> None:
        issuer = current_app.config["ISSUER"]
        # draft-ietf-oauth-rfc7523bis §3 (the 2025 audience-injection advisory): the issuer
        # identifier as the sole audience, never an endpoint URL nor a list with other servers,
        # so that no assertion made for someone else can be replayed here, nor ours elsewhere.
        if claims.get("aud") not in (issuer, [issuer]):
            raise InvalidClientError(description="aud must be the issuer identifier alone")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidClientError(description="exp is required")
        # Short-lived, so that the replay cache below stays small and a stolen assertion
        # soon stops working.
        if exp > time.time() + current_app.config["CLIENT_ASSERTION_MAX_LIFETIME"] + self.leeway:
            raise InvalidClientError(description="exp is too far in the future")
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise InvalidClientError(description="jti is required")
        super().verify_claims(claims)

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if not client.jwks:
            # A client of a secret has no key to sign with (joserfc refuses an empty key set).
            raise InvalidClientError(description="the client has no registered keys")
        return KeySet.import_key_set(client.jwks)

    def validate_jti(self, claims: dict, jti: str) -> bool:
        # Each assertion works once (RFC 7523 §3 item 7); remembered only while it could be
        # valid. The key is a digest: a jti is the client's text, of any length.
        ttl = max(1, int(claims["exp"] - time.time()) + self.leeway)
        store = current_app.extensions["idp.store"]
        return store.add(f"assertion-jti:{security.digest(claims['iss'] + ' ' + jti)}", {}, ttl)


class EndSessionEndpoint(_EndSessionEndpoint):
    def get_server_jwks(self) -> KeySet:
        return current_app.extensions["idp.keystore"].public_keyset()

    def get_algorithms(self) -> list[str]:
        return list(SIGNING_ALGORITHMS)

    def _validate_id_token_hint(self, id_token_hint: str) -> dict:
        # Authlib puts joserfc's description in its error, and joserfc quotes the hint's own
        # header (kid, alg, crit) there: so the hint is decoded here first, and its error
        # described with what an error description may hold.
        try:
            jwt.decode(id_token_hint, self.get_server_jwks(), algorithms=self.get_algorithms())
        except JoseError as error:
            raise InvalidRequestError(describe(error.description)) from None
        return super()._validate_id_token_hint(id_token_hint)

    def end_session(self, end_session_request) -> None:
        from .logout import end_current_session

        end_current_session(end_session_request)
