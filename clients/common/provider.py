"""The provider as a relying party sees it: Authlib's Flask client, registered from discovery,
plus the relying-party checks Authlib's client leaves to the application and the provider's
keys (ID tokens, access tokens at an API, back-channel logout tokens). Shared by every app in
clients/; each registers with the scope it needs."""

from __future__ import annotations

import time

from authlib.integrations.flask_client import OAuth, OAuthError
from authlib.integrations.flask_client.apps import FlaskOAuth2App
from flask import Flask, current_app, request

NAME = "provider"
# What the provider signs with (its IDP_KEY_ALGORITHMS). Public-key algorithms only: a
# shared-secret one such as HS256 would let anyone holding the public key forge tokens.
SIGNATURE_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
# Seconds to wait for the provider; a hung provider must not hang the app's workers.
TIMEOUT = 10
# A forced JWKS fetch (for a key id we do not know) at most this often, in seconds: tokens with
# made-up key ids must not turn every API call into a call to the provider.
JWKS_REFRESH_INTERVAL = 30


def register(app: Flask, scope: str) -> None:
    """Register the provider with the app's client id and secret, asking for `scope`."""
    oauth = OAuth(app)
    issuer = app.config["ISSUER"]
    oauth.register(
        NAME,
        client_id=app.config["CLIENT_ID"],
        client_secret=app.config["CLIENT_SECRET"],
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        # Authorization code with PKCE S256 (RFC 9700 §2.1.1); Authlib adds state and nonce
        # and checks both on the way back.
        client_kwargs={
            "scope": scope,
            "code_challenge_method": "S256",
            "default_timeout": TIMEOUT,
        },
    )
    app.extensions["clients.jwks_refreshed_at"] = {"at": float("-inf")}


def client() -> FlaskOAuth2App:
    """The registered client, once its discovery document is known to be the provider's."""
    provider = current_app.extensions["authlib.integrations.flask_client"].create_client(NAME)
    metadata = provider.load_server_metadata()
    # OIDC Discovery §4.3: the document must name exactly the issuer we were configured with,
    # or its endpoints and keys belong to someone else.
    if metadata.get("issuer") != current_app.config["ISSUER"]:
        raise OAuthError(
            error="invalid_issuer", description="the discovery document names another issuer"
        )
    return provider


def load_jwks(refresh: bool = False) -> dict:
    """The provider's published keys (from discovery's jwks_uri, cached); `refresh` fetches
    them again, for a key id we have not seen (the provider rotated its keys)."""
    if refresh:
        last = current_app.extensions["clients.jwks_refreshed_at"]
        now = time.monotonic()
        if now - last["at"] < JWKS_REFRESH_INTERVAL:
            refresh = False
        else:
            last["at"] = now
    return client().fetch_jwk_set(force=refresh)


def check_issuer_parameter(args) -> None:
    """RFC 9207: the authorization response must come from our issuer (mix-up defence)."""
    issuer = args.get("iss")
    metadata = client().server_metadata
    if issuer is None and metadata.get("authorization_response_iss_parameter_supported"):
        # RFC 9207 §2.4: a provider that announces `iss` and omits it is not to be trusted.
        raise OAuthError(error="invalid_response", description="the response names no issuer")
    if issuer is not None and issuer != current_app.config["ISSUER"]:
        raise OAuthError(
            error="invalid_response", description="the response is from another issuer"
        )


def id_token_claims_options() -> dict:
    """Authlib checks `iss` but not `aud` by default; OIDC Core §3.1.3.7 requires both."""
    return {
        "iss": {"essential": True, "value": current_app.config["ISSUER"]},
        "aud": {"essential": True, "value": current_app.config["CLIENT_ID"]},
    }


def bearer(access_token: str) -> dict:
    """A token for Authlib's client to send as `Authorization: Bearer`, without anything that
    would make the client try to refresh it."""
    return {"access_token": access_token, "token_type": "Bearer"}


def logout_state_is_ours() -> bool:
    """Whether a return from the provider's logout carries the state we sent (RP-Initiated
    Logout 1.0 §3): only then does the page say that the person signed out."""
    try:
        client().validate_logout_response()
    except OAuthError:
        return False
    return True


def finish_sign_in() -> tuple[dict, dict, dict]:
    """The redirect back from the provider: (token, ID token claims, userinfo), all checked.

    Authlib checks state, exchanges the code with the PKCE verifier and validates the ID token
    (signature from the JWKS, iss, aud, exp, nonce, at_hash); errors raise OAuthError.
    """
    idp = client()
    check_issuer_parameter(request.args)
    token = idp.authorize_access_token(claims_options=id_token_claims_options())
    if "userinfo" not in token:
        raise OAuthError(error="invalid_response", description="no ID token was returned")
    claims = dict(token["userinfo"])
    userinfo = dict(idp.userinfo(token=bearer(token["access_token"])))
    # OIDC Core §5.3.4: userinfo about anyone but the ID token's subject is not to be used.
    if userinfo.get("sub") != claims["sub"]:
        raise OAuthError(error="invalid_response", description="userinfo is for another sub")
    return token, claims, userinfo


def configure_session_cookie(app: Flask, name: str, base_url: str) -> None:
    """The app's own session cookie: its own name (the provider's and the other apps' cookies
    share the host on a development machine, and cookies are not kept apart by port), HttpOnly,
    Secure over https, and SameSite=Lax: sent on the provider's redirect back to /callback (a
    top-level navigation), never on another site's form posts."""
    secure = base_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME=f"__Host-{name}_session" if secure else f"{name}_session",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
