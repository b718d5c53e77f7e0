"""Provider metadata (OpenID Connect Discovery 1.0, RFC 8414): complete and true.

Built once per process from configuration; every value here is what the endpoints really do.
"""

from __future__ import annotations

from flask import Flask

from .claims import CLAIMS_SUPPORTED, USER_SCOPES
from .endpoints import CLIENT_ASSERTION_ALGORITHMS
from .grants import ALL_AUTH_METHODS


def metadata(app: Flask) -> dict:
    issuer = app.config["ISSUER"]
    assertion_algs = list(CLIENT_ASSERTION_ALGORITHMS)
    acr_values = [app.config["ACR_LOW"], app.config["ACR_SUBSTANTIAL"]]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/logout",
        # RFC 7591 §3 (with an initial access token from an operator); RFC 7592 beneath it.
        "registration_endpoint": f"{issuer}/oauth/register",
        "scopes_supported": sorted(USER_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": list(app.config["KEY_ALGORITHMS"]),
        "token_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": [
            m for m in ALL_AUTH_METHODS if m != "none"
        ],
        "introspection_endpoint_auth_signing_alg_values_supported": list(
            CLIENT_ASSERTION_ALGORITHMS
        ),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "sid",
            "azp",
            "at_hash",
            *[c for c in CLAIMS_SUPPORTED if c != "sub"],
        ],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "acr_values_supported": acr_values,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "display_values_supported": ["page"],
        "ui_locales_supported": list(app.config["LOCALES"]),
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        # OpenID Connect Back-Channel Logout 1.0: logout tokens always carry sid.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "tls_client_certificate_bound_access_tokens": False,
        "service_documentation": f"{issuer}/",
    }
