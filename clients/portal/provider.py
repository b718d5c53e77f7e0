"""The provider as the portal sees it: Authlib's Flask client, registered from discovery, plus
the few relying-party checks Authlib's client leaves to the application."""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth, OAuthError
from authlib.integrations.flask_client.apps import FlaskOAuth2App
from flask import Flask, current_app

NAME = "provider"
SCOPE = "openid profile email phone nid business"
# Seconds to wait for the provider; a hung provider must not hang the portal's workers.
TIMEOUT = 10


def register(app: Flask) -> None:
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
            "scope": SCOPE,
            "code_challenge_method": "S256",
            "default_timeout": TIMEOUT,
        },
    )


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


def jwks(force: bool = False) -> dict:
    """The provider's public signing keys, as Authlib cached them for ID tokens; `force` fetches
    them again (a token signed with an unknown key may follow a key rotation)."""
    return client().fetch_jwk_set(force=force)


def logout_state_is_ours() -> bool:
    """Whether a return from the provider's logout carries the state we sent (RP-Initiated
    Logout 1.0 §3): only then does the page say that the person signed out."""
    try:
        client().validate_logout_response()
    except OAuthError:
        return False
    return True


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
    """A token for API calls without its refresh token, so Authlib's client never refreshes
    behind our back: the rotated refresh token would be lost and the next refresh would look
    like reuse and end the whole sign-in (the provider revokes reused families)."""
    return {"access_token": access_token, "token_type": "Bearer"}
