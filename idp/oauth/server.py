"""The Authlib authorization server of the provider, with its grants and endpoints registered."""

from __future__ import annotations

import re

from authlib.integrations.flask_oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask
from sqlalchemy import select

from ..models import Client, db
from . import endpoints, grants, registration

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


class AuthorizationParameters(OAuth2Payload):
    """Parameters of an authorization request, kept in the store between login and consent."""

    def __init__(self, params: dict[str, list[str]]):
        self._datalist = params
        self._data = {key: values[0] for key, values in params.items() if values}

    @property
    def data(self) -> dict:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class AuthorizationRequest(OAuth2Request):
    """An OAuth2Request built from stored parameters instead of the current HTTP request."""

    def __init__(self, uri: str, params: dict[str, list[str]]):
        super().__init__("GET", uri)
        self.payload = AuthorizationParameters(params)
        self.sso_session = None
        self.resources: list[str] = []

    @property
    def args(self) -> dict:
        return self.payload.data

    @property
    def form(self) -> dict:
        return {}


class Issuer(IssuerParameter):
    def __init__(self, issuer: str):
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class AuthorizationServer(_AuthorizationServer):
    def __init__(self, issuer: str):
        super().__init__()
        self.issuer = issuer
        self.issuer_parameter = Issuer(issuer)

    def query_client(self, client_id: str) -> Client | None:
        # An assertion's unverified `sub` arrives here too: PostgreSQL cannot compare NUL (a 500).
        if not isinstance(client_id, str) or not client_id.isprintable():
            return None
        return db.session.execute(
            select(Client).where(
                Client.client_id == client_id,
                Client.disabled.is_(False),
                # Dynamically registered clients wait for an operator's approval.
                Client.approved.is_(True),
            )
        ).scalar()

    def save_token(self, token: dict, request) -> None:
        # Grants add their rows (grant, refresh token) to the session; one commit stores them.
        db.session.commit()

    def create_oauth2_request(self, request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)

    def validate_requested_scope(self, scope: str | None) -> None:
        # Which scopes a client may use is per client (Client.get_allowed_scope); here only syntax.
        if scope is not None and not all(SCOPE_TOKEN.match(s) for s in scope.split(" ") if s):
            raise InvalidScopeError()

    def add_issuer(self, response):
        """RFC 9207: every authorization response, errors included, names its issuer."""
        self.issuer_parameter.add_issuer_parameter(self, response)
        return response


def create_server(app: Flask) -> AuthorizationServer:
    server = AuthorizationServer(app.config["ISSUER"])
    server.init_app(app)
    server.register_extension(server.issuer_parameter)
    server.register_grant(grants.AuthorizationCodeGrant, [grants.PKCE(), grants.OpenIDCode()])
    server.register_grant(grants.RefreshTokenGrant)
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_client_auth_method("private_key_jwt", endpoints.PrivateKeyJWT())
    server.register_endpoint(endpoints.RevocationEndpoint)
    server.register_endpoint(endpoints.IntrospectionEndpoint)
    protector = endpoints.BearerProtector()
    protector.register_token_validator(endpoints.AccessTokenValidator())
    server.register_endpoint(endpoints.UserInfoEndpoint(resource_protector=protector))
    server.register_endpoint(endpoints.EndSessionEndpoint)
    registration.init_endpoints(server)
    return server
