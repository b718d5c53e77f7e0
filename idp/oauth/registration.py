"""Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592).

An agency registers its relying party itself with an initial access token that an operator
issued (``idp clients initial-token``); the new client waits (``approved=False``) until an
operator runs ``idp clients approve``. Authlib's endpoints carry the protocol; this module adds
only what is ours: the two kinds of token, the metadata policy and the storage.

Decisions:
- Metadata this provider understands but does not implement (``jwks_uri``, sector identifier
  URIs, encrypted ID tokens, signed or encrypted userinfo, software statements) is refused:
  ignoring it, as RFC 7591 §2 asks for *unknown* metadata, would leave the client expecting
  behaviour it will not get. Unknown metadata (``client_name#sq`` included) is ignored.
- Answers name exactly what was stored (RFC 7591 §3.2.1), read back from the client row.
- An update (RFC 7592 §2.2) keeps the approval unless it changes what the operator vouched
  for: where codes, tokens and logouts go, what the client may ask for, and how it presents
  itself to people (name, logo, links). Then the client waits for approval again. Key rotation
  (``jwks``), contacts and the ID token algorithm keep it approved.
- Deletion (RFC 7592 §2.3) disables the row rather than removing it: the audit trail keeps its
  name and the client_id is never issued again. Its secret and registration access token are
  erased and its grants and consents end at once.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from authlib.consts import default_json_headers
from authlib.integrations.flask_oauth2.requests import FlaskJsonPayload, FlaskJsonRequest
from authlib.oauth2.claims import BaseClaims
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7591 import ClientMetadataClaims as _ClientMetadataClaims
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint as _ClientRegistrationEndpoint
from authlib.oauth2.rfc7591 import (
    InvalidClientMetadataError,
    InvalidRedirectURIError,
    InvalidSoftwareStatementError,
)
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint as _ClientConfigurationEndpoint
from authlib.oidc.registration import ClientMetadataClaims as _OpenIDMetadataClaims
from flask import Blueprint, current_app, request
from joserfc.errors import JoseError
from sqlalchemy import delete, select, update

from .. import audit, outbound, security
from ..models import Client, Consent, Grant, InitialAccessToken, db, now
from ..web import json_body
from . import discovery

if TYPE_CHECKING:
    from .server import AuthorizationServer

bp = Blueprint("client_registration", __name__)

SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_SCOPE = "openid"

# Metadata we know but do not implement; refused rather than silently ignored (see above).
UNSUPPORTED_METADATA = (
    "jwks_uri",
    "sector_identifier_uri",
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_signed_response_alg",
    "userinfo_encrypted_response_alg",
    "userinfo_encrypted_response_enc",
)
# The JSON type of each metadata value that we or Authlib read; anything else is refused before
# a string is read character by character where a list belongs.
LIST_METADATA = (
    "redirect_uris",
    "post_logout_redirect_uris",
    "grant_types",
    "response_types",
    "contacts",
    "default_acr_values",
    "request_uris",
)
TEXT_METADATA = (
    "client_id",
    "client_secret",
    "client_name",
    "scope",
    "token_endpoint_auth_method",
    "token_endpoint_auth_signing_alg",
    "client_uri",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "backchannel_logout_uri",
    "initiate_login_uri",
    "subject_type",
    "id_token_signed_response_alg",
    "application_type",
    "software_id",
    "software_version",
    "request_object_signing_alg",
    "request_object_encryption_alg",
    "request_object_encryption_enc",
)
# Longest text accepted: the database columns' sizes (Client.name, the URI columns).
MAX_LENGTH = {"client_name": 200, "scope": 1000}
MAX_TEXT_LENGTH = 500
MAX_LIST_ITEMS = 20
# Members of a JWK that only a private or symmetric key has: never registered (RFC 7591 §2).
PRIVATE_KEY_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def uri_problem(uri: str, production: bool) -> str | None:
    """Why uri cannot be registered for a client, or None when it can."""
    # RFC 3986 §2: printable ASCII without spaces or the characters it never allows unescaped
    # (internationalised hosts in their A-label form).
    if not (uri.isascii() and uri.isprintable()) or any(c in uri for c in ' "<>\\^`{|}'):
        return "not a valid URI"
    try:
        parts = urlsplit(uri)
        hostname, _port = parts.hostname, parts.port  # the port raises if out of range
    except ValueError:
        return "not a valid URI"
    if parts.scheme not in ("https", "http") or not hostname or parts.fragment:
        return "an absolute http(s) URI without a fragment is needed"
    if parts.username is not None or parts.password is not None:
        # "https://agency.al@attacker.example/" shows one host and means another.
        return "user information is not allowed in the URI"
    # RFC 9700 §4.1.1 / §2.6: https everywhere except a development machine's loopback.
    if parts.scheme == "http" and (production or hostname not in LOOPBACK_HOSTS):
        return "must use https"
    return None


def _check_uri(uri: str, field: str, error=InvalidClientMetadataError) -> None:
    # The description names the field, never the value: error descriptions are restricted ASCII.
    problem = uri_problem(uri, current_app.config["ENV"] == "production")
    if problem:
        raise error(f"{field}: {problem}")


def _is_text(value, max_length: int) -> bool:
    # No control characters: names are shown to people, and PostgreSQL refuses NUL in text.
    return isinstance(value, str) and 0 < len(value) <= max_length and value.isprintable()


def _check_types(data: dict) -> None:
    for field, value in data.items():
        if field in LIST_METADATA:
            valid = (
                isinstance(value, list)
                and len(value) <= MAX_LIST_ITEMS
                and all(_is_text(item, MAX_TEXT_LENGTH) for item in value)
            )
        elif field in TEXT_METADATA:
            valid = _is_text(value, MAX_LENGTH.get(field, MAX_TEXT_LENGTH))
        elif field == "jwks":
            keys = value.get("keys") if isinstance(value, dict) else None
            valid = isinstance(keys, list) and 0 < len(keys) <= MAX_LIST_ITEMS
            valid = valid and all(isinstance(key, dict) for key in keys)
            if valid and any(PRIVATE_KEY_MEMBERS & key.keys() for key in keys):
                raise InvalidClientMetadataError("jwks: register public keys only")
        else:
            continue
        if not valid:
            raise InvalidClientMetadataError(f"{field}: wrong type, length or characters")


class ClientMetadataClaims(_ClientMetadataClaims):
    """RFC 7591 §2 metadata under this provider's rules, where Authlib leaves them open."""

    def validate(self, now=None, leeway=0):
        # RFC 7591 §2 defaults first, so every rule below sees the effective values.
        if not self.get("grant_types"):
            self["grant_types"] = ["authorization_code"]
        if "response_types" not in self:
            self["response_types"] = ["code"] if self._uses_code else []
        if not self.get("scope", "").strip():
            self["scope"] = DEFAULT_SCOPE
        super().validate(now, leeway)

    @property
    def _uses_code(self) -> bool:
        return "authorization_code" in self["grant_types"]

    def validate_redirect_uris(self):
        uris = self.get("redirect_uris") or []
        # RFC 6749 §3.1.2.2: a client of a redirect-based flow registers its redirect URIs.
        if self._uses_code and not uris:
            raise InvalidRedirectURIError("redirect_uris: required for authorization_code")
        for uri in uris:
            _check_uri(uri, "redirect_uris", InvalidRedirectURIError)

    def _validate_uri(self, key, uri=None):
        uri = self.get(key) if uri is None else uri
        if uri:
            _check_uri(uri, key)

    def validate_token_endpoint_auth_method(self):
        super().validate_token_endpoint_auth_method()
        method = self["token_endpoint_auth_method"]
        if method == "private_key_jwt" and "jwks" not in self:
            raise InvalidClientMetadataError("private_key_jwt needs the public keys as jwks")
        if method == "none" and "client_credentials" in self["grant_types"]:
            raise InvalidClientMetadataError("public clients cannot use client_credentials")

    def validate_response_types(self):
        # RFC 7591 §2.1: the code response type goes with the authorization_code grant.
        if set(self["response_types"]) != ({"code"} if self._uses_code else set()):
            raise InvalidClientMetadataError("response_types must match grant_types")

    def validate_client_name(self):
        if not self.get("client_name", "").strip():
            raise InvalidClientMetadataError("client_name is required")

    def validate_scope(self):
        # Agencies register their own API scopes beside the personal ones: syntax only here.
        from .server import SCOPE_TOKEN  # here, not above: server.py imports this module

        if not all(SCOPE_TOKEN.match(scope) for scope in self["scope"].split()):
            raise InvalidClientMetadataError("scope: not RFC 6749 scope syntax")


class OpenIDMetadataClaims(_OpenIDMetadataClaims):
    """OpenID Connect Dynamic Client Registration 1.0 §2 metadata under this provider's rules."""

    def validate_subject_type(self):
        self.setdefault("subject_type", "public")
        # OIDC Core §8.1: without a sector identifier URI, the redirect host is the sector.
        hosts = {urlsplit(uri).hostname for uri in self.get("redirect_uris") or []}
        if self["subject_type"] == "pairwise" and len(hosts) != 1:
            raise InvalidClientMetadataError("pairwise subjects need redirect_uris on one host")


class LogoutMetadataClaims(BaseClaims):
    """RP-Initiated Logout 1.0 §3.1 and Back-Channel Logout 1.0 §2.2 metadata."""

    REGISTERED_CLAIMS = ["post_logout_redirect_uris", "backchannel_logout_uri"]

    @classmethod
    def get_claims_options(cls, metadata: dict) -> dict:
        return {}  # no value lists in the server metadata for these

    def validate(self, now=None, leeway=0):
        super().validate(now, leeway)
        for uri in self.get("post_logout_redirect_uris") or []:
            _check_uri(uri, "post_logout_redirect_uris")
        uri = self.get("backchannel_logout_uri")
        if uri:
            _check_uri(uri, "backchannel_logout_uri")
            # The provider itself calls this one: never inside the network (SSRF).
            problem = outbound.registration_problem(
                uri, outbound.Policy.from_config(current_app.config)
            )
            if problem:
                raise InvalidClientMetadataError(f"backchannel_logout_uri: {problem}")


CLAIMS_CLASSES = [ClientMetadataClaims, OpenIDMetadataClaims, LogoutMetadataClaims]


class MetadataPayload(FlaskJsonPayload):
    """The body as a JSON object with values of the right types; anything else is refused."""

    @cached_property
    def data(self) -> dict:
        try:
            body = json_body.read_object(self._request)
        except json_body.BodyError as error:
            raise InvalidClientMetadataError(str(error)) from None
        # RFC 7592 §2.2: a null value means the field is not set; so does an empty string.
        body = {key: value for key, value in body.items() if value is not None and value != ""}
        _check_types(body)
        return body


class MetadataRequest(FlaskJsonRequest):
    """The HTTP request, its body read only once authenticated, and then as a JSON object."""

    def __init__(self, flask_request):
        super().__init__(flask_request)
        self.payload = MetadataPayload(flask_request)
        if self.method == "HEAD":
            # Werkzeug routes HEAD to GET views and drops the body; Authlib knows only GET.
            self.method = "GET"


class MetadataPolicy:
    """What both endpoints share: the request, the metadata rules and the server's metadata."""

    def create_endpoint_request(self, _request):
        return MetadataRequest(request)

    def get_server_metadata(self) -> dict:
        # Authlib derives its value checks from these (RFC 8414 names). Scopes are left to
        # ClientMetadataClaims.validate_scope, since API scopes are registered freely.
        metadata = discovery.metadata(current_app)
        del metadata["scopes_supported"]
        return metadata

    def extract_client_metadata(self, oauth_request) -> dict:
        """The requested metadata, validated, with defaults: the registered metadata.

        Authlib's loop over the claims classes, after refusing what we do not implement, and
        without the print() of errors that Authlib's RFC 7592 endpoint has.
        """
        data = oauth_request.payload.data
        if "software_statement" in data:
            raise InvalidSoftwareStatementError("software statements are not supported")
        for field in UNSUPPORTED_METADATA:
            if field in data:
                raise InvalidClientMetadataError(f"{field} is not supported")
        server_metadata = self.get_server_metadata()
        metadata = {}
        for claims_class in self.claims_classes:
            options = claims_class.get_claims_options(server_metadata)
            claims = claims_class(data, {}, options, server_metadata)
            try:
                claims.validate()
            except JoseError as error:
                raise InvalidClientMetadataError(error.description) from error
            metadata.update(claims.get_registered_claims())
        return metadata


def _client_fields(metadata: dict) -> dict:
    """Client column values from registered metadata (RFC 7591 names to ours)."""
    return {
        "name": metadata["client_name"].strip(),
        "token_endpoint_auth_method": metadata["token_endpoint_auth_method"],
        "redirect_uris": list(dict.fromkeys(metadata.get("redirect_uris", []))),
        "post_logout_redirect_uris": list(
            dict.fromkeys(metadata.get("post_logout_redirect_uris", []))
        ),
        "scopes": list(dict.fromkeys(metadata["scope"].split())),
        "grant_types": list(dict.fromkeys(metadata["grant_types"])),
        "jwks": metadata.get("jwks"),
        "subject_type": metadata["subject_type"],
        "id_token_signed_response_alg": metadata.get("id_token_signed_response_alg"),
        "backchannel_logout_uri": metadata.get("backchannel_logout_uri"),
        "client_uri": metadata.get("client_uri"),
        "logo_uri": metadata.get("logo_uri"),
        "policy_uri": metadata.get("policy_uri"),
        "tos_uri": metadata.get("tos_uri"),
        "contacts": list(dict.fromkeys(metadata.get("contacts", []))),
    }


def registered_metadata(client: Client) -> dict:
    """The client's metadata in RFC 7591 §2 names, as registration and reading answer."""
    metadata = {
        **client.client_metadata,
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "subject_type": client.subject_type,
        "contacts": client.contacts,
    }
    optional = {
        "jwks": client.jwks,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "client_uri": client.client_uri,
        "logo_uri": client.logo_uri,
        "policy_uri": client.policy_uri,
        "tos_uri": client.tos_uri,
    }
    metadata.update({key: value for key, value in optional.items() if value})
    return metadata


def _client_information(
    client: Client, registration_access_token: str, client_secret: str | None = None
) -> dict:
    """RFC 7591 §3.2.1 client information and RFC 7592 §3 management details."""
    information = {"client_id": client.client_id}
    if client_secret:
        information["client_secret"] = client_secret
    information["client_id_issued_at"] = client.created_at
    if client.token_endpoint_auth_method in SECRET_AUTH_METHODS:
        information["client_secret_expires_at"] = 0  # never
    information["registration_access_token"] = registration_access_token
    information["registration_client_uri"] = registration_client_uri(client.client_id)
    return information


def registration_client_uri(client_id: str) -> str:
    return f"{current_app.config['ISSUER']}/oauth/register/{client_id}"


def _bearer_token(oauth_request) -> str | None:
    scheme, _, token = oauth_request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _invalid_token(description: str) -> InvalidTokenError:
    """401 invalid_token with a Bearer challenge (RFC 6750 §3), for a missing token as for a
    wrong one: one answer, whatever was presented."""
    return InvalidTokenError(description, realm=current_app.config["ISSUER"])


# -- registration (RFC 7591) ---------------------------------------------------------------------


def issue_initial_access_token(description: str, uses: int, lifetime: int) -> str:
    """Store a new initial access token (as a digest); the token is returned only now."""
    token = security.generate_secret()
    db.session.add(
        InitialAccessToken(
            token_hash=security.digest(token),
            description=description,
            created_at=now(),
            expires_at=now() + lifetime,
            uses_left=uses,
        )
    )
    db.session.commit()
    return token


class ClientRegistrationEndpoint(MetadataPolicy, _ClientRegistrationEndpoint):
    def authenticate_token(self, oauth_request) -> InitialAccessToken:
        token = _bearer_token(oauth_request) or ""
        found = db.session.execute(
            select(InitialAccessToken).where(
                InitialAccessToken.token_hash == security.digest(token),
                InitialAccessToken.expires_at > now(),
                InitialAccessToken.uses_left > 0,
            )
        ).scalar()
        if found is None:
            audit.record("client.registered", "refused", reason="initial access token")
            raise _invalid_token("a valid initial access token is required")
        return found

    def create_registration_response(self, oauth_request):
        # Authlib's version answers with the request's metadata and always issues a secret; ours
        # answers with what was stored (RFC 7591 §3.2.1) and gives secrets to secret methods only.
        oauth_request.credential = self.authenticate_token(oauth_request)
        metadata = self.extract_client_metadata(oauth_request)
        secret = None
        if metadata["token_endpoint_auth_method"] in SECRET_AUTH_METHODS:
            secret = security.generate_secret()
        registration_access_token = security.generate_secret()
        client = self.save_client(
            {"client_secret": secret, "registration_access_token": registration_access_token},
            metadata,
            oauth_request,
        )
        body = _client_information(client, registration_access_token, secret)
        return 201, {**body, **registered_metadata(client)}, default_json_headers

    def save_client(self, client_info: dict, client_metadata: dict, oauth_request) -> Client:
        # RFC 7591 §3: the registration spends one use of the initial access token, in the same
        # transaction as the new client, so parallel registrations cannot overspend it.
        spent = db.session.execute(
            update(InitialAccessToken)
            .where(
                InitialAccessToken.id == oauth_request.credential.id,
                InitialAccessToken.uses_left > 0,
            )
            .values(uses_left=InitialAccessToken.uses_left - 1)
        )
        if spent.rowcount != 1:
            db.session.rollback()
            raise _invalid_token("a valid initial access token is required")
        secret = client_info["client_secret"]
        client = Client(
            client_id=security.generate_client_id(),
            client_secret_hash=security.digest(secret) if secret else None,
            registration_token_hash=security.digest(client_info["registration_access_token"]),
            approved=False,
            first_party=False,
            created_at=now(),
            **_client_fields(client_metadata),
        )
        db.session.add(client)
        db.session.commit()
        audit.record(
            "client.registered",
            "pending",
            client_id=client.client_id,
            initial_access_token=oauth_request.credential.description,
        )
        return client


# -- management (RFC 7592) -----------------------------------------------------------------------


class RegistrationAccessToken:
    """A registration access token that matched its client (what Authlib asks of a token)."""

    def __init__(self, client: Client, token: str):
        self.client = client
        self.token = token

    def check_client(self, client: Client) -> bool:
        return client is self.client


def _reviewed(client: Client) -> tuple:
    """What an operator's approval vouches for; changing any of it needs approval again."""
    return (
        client.name,
        client.logo_uri,
        client.client_uri,
        client.policy_uri,
        client.tos_uri,
        frozenset(client.redirect_uris),
        frozenset(client.post_logout_redirect_uris),
        client.backchannel_logout_uri,
        frozenset(client.scopes),
        frozenset(client.grant_types),
        client.token_endpoint_auth_method,
        client.subject_type,
    )


class ClientConfigurationEndpoint(MetadataPolicy, _ClientConfigurationEndpoint):
    def authenticate_token(self, oauth_request) -> RegistrationAccessToken:
        client_id = request.view_args.get("client_id")
        client = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar()
        token = _bearer_token(oauth_request)
        # The same answer for an unknown client as for a wrong token: nothing to probe with.
        if client is None or not security.secret_matches(token, client.registration_token_hash):
            raise _invalid_token("a valid registration access token is required")
        return RegistrationAccessToken(client, token)

    def authenticate_client(self, oauth_request) -> Client:
        return oauth_request.credential.client

    def check_permission(self, client: Client, oauth_request) -> bool:
        return True  # every dynamically registered client manages its own registration

    def introspect_client(self, client: Client) -> dict:
        return registered_metadata(client)

    def generate_client_registration_info(self, client: Client, oauth_request) -> dict:
        # Secrets exist only as digests: a read cannot repeat the client secret (RFC 7591
        # §3.2.1 makes it optional), except a new one issued by this very update.
        issued_secret = getattr(oauth_request, "issued_client_secret", None)
        return _client_information(client, oauth_request.credential.token, issued_secret)

    def update_client(self, client: Client, client_metadata: dict, oauth_request) -> Client:
        reviewed = _reviewed(client)
        for column, value in _client_fields(client_metadata).items():
            setattr(client, column, value)
        if client.token_endpoint_auth_method not in SECRET_AUTH_METHODS:
            client.client_secret_hash = None
        elif client.client_secret_hash is None:
            oauth_request.issued_client_secret = security.generate_secret()
            client.client_secret_hash = security.digest(oauth_request.issued_client_secret)
        if _reviewed(client) != reviewed:
            client.approved = False
        db.session.commit()
        audit.record(
            "client.updated", "ok" if client.approved else "pending", client_id=client.client_id
        )
        return client

    def delete_client(self, client: Client, oauth_request) -> None:
        # RFC 7592 §2.3: the client_id, secret and registration access token stop working now,
        # and (SHOULD) so do the grants and tokens issued to it.
        client.disabled = True
        client.client_secret_hash = None
        client.registration_token_hash = None
        db.session.execute(
            update(Grant)
            .where(Grant.client_id == client.client_id, Grant.revoked_at.is_(None))
            .values(revoked_at=int(time.time()))
        )
        db.session.execute(delete(Consent).where(Consent.client_id == client.client_id))
        db.session.commit()
        audit.record("client.deleted", "ok", client_id=client.client_id, by="registration")


def init_endpoints(server: AuthorizationServer) -> None:
    """Register both endpoints on the authorization server (called from create_server)."""
    server.register_endpoint(ClientRegistrationEndpoint(claims_classes=CLAIMS_CLASSES))
    server.register_endpoint(ClientConfigurationEndpoint(claims_classes=CLAIMS_CLASSES))


def _server():
    return current_app.extensions["idp.oauth"]


@bp.post("/oauth/register")
def register():
    return _server().create_endpoint_response(ClientRegistrationEndpoint.ENDPOINT_NAME)


@bp.route("/oauth/register/<client_id>", methods=["GET", "PUT", "DELETE"])
def configure(client_id: str):
    return _server().create_endpoint_response(ClientConfigurationEndpoint.ENDPOINT_NAME)
