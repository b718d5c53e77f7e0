"""The authorization endpoint's decisions: validate, then log in, ask consent, or issue a code.

Every request is validated by Authlib's grant first. What happens next is decided here, once,
whether the request just arrived or comes back after the login or consent page: the parameters
wait as an interaction (idp.oauth.interaction, like ORY Hydra's login_challenge), bound to the
browser and the person, so `prompt=login` / `max_age` are judged against the login that
happened for this very request, and consent is always the signed-in person's own.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError, UnsupportedResponseTypeError
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    LoginRequiredError,
    RegistrationNotSupportedError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import current_app, redirect, render_template, request, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.datastructures import MultiDict

from ..auth import sessions
from ..config import SIGNING_ALGORITHMS
from ..models import Client, User, db
from . import interaction
from .claims import subject_for
from .errors import describe
from .interaction import Interaction
from .resources import requested_resources
from .server import AuthorizationRequest, AuthorizationServer

PROMPTS = {"none", "login", "consent", "select_account"}
# Parameters that may appear more than once (RFC 8707 §2: several resources).
REPEATABLE = {"resource"}


def _server() -> AuthorizationServer:
    return current_app.extensions["idp.oauth"]


def request_parameters() -> MultiDict:
    """The parameters of an authorization request: the query (GET) or the form body (POST)."""
    return request.form if request.method == "POST" else request.args


def start(source: MultiDict) -> object:
    """Handle a fresh authorization request."""
    params = {key: source.getlist(key) for key in source}
    return decide(params, pending=None)


def resume(challenge: str) -> object:
    """Continue a stored request after the login or consent page. Opened in a browser the
    request is not bound to, it starts over there: that person's own login and consent."""
    pending = interaction.get(challenge) or interaction.start_over(challenge)
    if pending is None:
        return expired_page()
    return decide(pending.params, pending)


def decide(params: dict[str, list[str]], pending: Interaction | None):
    interaction.use_ui_locales(params)
    server = _server()
    session = sessions.current()
    user = db.session.get(User, session.user_id) if session else None
    if pending is not None and user is not None:
        # Someone else signed in in this browser since the last step: they start over.
        pending = interaction.bind_person(pending, user)
    oauth_request = AuthorizationRequest(f"{server.issuer}/authorize", params)
    try:
        _check_parameter_shape(server, params)
        grant = server.get_consent_grant(request=oauth_request, end_user=user)
        client: Client = oauth_request.client
        redirect_uri = grant.redirect_uri
        try:
            _check_openid_parameters(oauth_request)
            oauth_request.resources = requested_resources(oauth_request, client)
            if _needs_login(oauth_request, client, session, user, pending):
                if "none" in _prompts(oauth_request):
                    raise LoginRequiredError()
                pending = pending or interaction.create(params, user)
                return redirect(url_for("auth.login", login_challenge=pending.challenge))
            if _needs_consent(oauth_request, client, user, pending):
                if "none" in _prompts(oauth_request):
                    raise ConsentRequiredError()
                pending = pending or interaction.create(params, user)
                return redirect(url_for("auth.consent", consent_challenge=pending.challenge))
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
    except OAuth2Error as error:
        error.state = error.state or oauth_request.payload.state
        return error_response(error)
    oauth_request.sso_session = session
    sessions.add_client(session, client.client_id)
    if pending is not None:
        interaction.end(pending)
    return server.create_authorization_response(request=oauth_request, grant_user=user, grant=grant)


def deny(pending: Interaction):
    """The person refused consent (interaction.reject): access_denied to the client (RFC 6749
    §4.1.2.1)."""
    server = _server()
    oauth_request = AuthorizationRequest(f"{server.issuer}/authorize", pending.params)
    try:
        grant = server.get_consent_grant(request=oauth_request, end_user=None)
    except OAuth2Error as error:
        return error_response(error)
    return server.create_authorization_response(request=oauth_request, grant_user=None, grant=grant)


def error_response(error: OAuth2Error):
    """Redirect the error to a verified redirect URI, or show it to the person (never redirect
    to an unverified URI: RFC 6749 §4.1.2.1)."""
    if error.redirect_uri:
        status, _, headers = error()
        response = redirect(dict(headers)["Location"], code=status)
        return _server().add_issuer(response)
    return render_template("error.html", error=error), 400


def expired_page():
    return render_template("expired.html"), 400


# -- checks ------------------------------------------------------------------------------------


def _check_parameter_shape(server: AuthorizationServer, params: dict[str, list[str]]) -> None:
    """Parameters refused before Authlib reads them: repeated (RFC 6749 §3.1), oversized, or
    with characters Authlib would have to quote in its error and cannot (idp.oauth.errors).
    They are redirected to the client only when client_id and redirect_uri themselves are
    single, sane and registered."""
    limit = current_app.config["MAX_PARAMETER_LENGTH"]
    bad = [
        key
        for key, values in params.items()
        if (len(values) > 1 and key not in REPEATABLE) or any(len(v) > limit for v in values)
    ]
    redirect_uri = (params.get("redirect_uri") or [""])[0]
    response_type = (params.get("response_type") or [""])[0]
    if describe(redirect_uri) != redirect_uri:
        # Not a URI (RFC 3986 §2 has none of these characters), so not a registered one: the
        # person sees the error, the URI gets nothing (RFC 6749 §4.1.2.1).
        raise InvalidRequestError("Redirect URI is not a valid URI")
    if bad:
        error = InvalidRequestError(describe(f"parameter '{bad[0][:40]}' is repeated or too long"))
    elif describe(response_type) != response_type:
        # RFC 6749 §3.1.1: response types are made of letters, digits and "_".
        error = UnsupportedResponseTypeError(
            describe(response_type), description="response_type is not a valid response type"
        )
    else:
        return
    trusted = {"client_id", "redirect_uri"}
    if trusted & set(bad):
        raise error
    client = server.query_client((params.get("client_id") or [None])[0])
    if client is not None and redirect_uri and client.check_redirect_uri(redirect_uri):
        error.redirect_uri = redirect_uri
        if "state" not in bad:
            error.state = (params.get("state") or [None])[0]
    raise error


def _prompts(oauth_request: AuthorizationRequest) -> set[str]:
    return set((oauth_request.payload.data.get("prompt") or "").split())


def _check_openid_parameters(oauth_request: AuthorizationRequest) -> None:
    data = oauth_request.payload.data
    if "request" in data:
        raise RequestNotSupportedError()
    if "request_uri" in data:
        raise RequestURINotSupportedError()
    if "registration" in data:
        raise RegistrationNotSupportedError()
    if data.get("response_mode", "query") != "query":
        raise InvalidRequestError("response_mode must be query")
    prompts = _prompts(oauth_request)
    if not prompts <= PROMPTS:
        raise InvalidRequestError("unknown prompt value")
    if "openid" in oauth_request.scope.split() and not data.get("redirect_uri"):
        # OIDC Core §3.1.2.1: redirect_uri is required in OpenID requests.
        raise InvalidRequestError("redirect_uri is required")
    max_age = data.get("max_age")
    if max_age is not None and not (max_age.isdigit() and len(max_age) <= 10):
        raise InvalidRequestError("max_age must be a non-negative whole number of seconds")


def _needs_login(
    oauth_request, client: Client, session, user: User | None, pending: Interaction | None
) -> bool:
    if session is None or user is None:
        return True
    if pending is not None and pending.login_sid == session.sid:
        return False  # the person has just logged in for this request
    data = oauth_request.payload.data
    prompts = _prompts(oauth_request)
    if "login" in prompts or "select_account" in prompts:
        return True
    max_age = data.get("max_age")
    if max_age is not None and time.time() - session.auth_time > int(max_age):
        return True
    hint = data.get("id_token_hint")
    if hint:
        return _hinted_subject(hint, client) != subject_for(
            user, client, current_app.config["PAIRWISE_SALT"]
        )
    return False


def _hinted_subject(id_token_hint: str, client: Client) -> str:
    """The `sub` of an ID token we issued to this client (expired ones included, OIDC Core
    §3.1.2.1); anything else is invalid_request."""
    keyset = current_app.extensions["idp.keystore"].public_keyset()
    try:
        claims = jwt.decode(id_token_hint, keyset, algorithms=list(SIGNING_ALGORITHMS)).claims
    except (JoseError, ValueError, TypeError):
        raise InvalidRequestError(
            "id_token_hint is not a valid ID token from this provider"
        ) from None
    audience = claims.get("aud")
    audience = [audience] if isinstance(audience, str) else (audience or [])
    if claims.get("iss") != current_app.config["ISSUER"] or client.client_id not in audience:
        raise InvalidRequestError("id_token_hint was not issued to this client")
    return claims.get("sub", "")


def _needs_consent(oauth_request, client: Client, user: User, pending: Interaction | None) -> bool:
    """Consent is the signed-in person's own, from the Consent table: never a mark carried by
    the request, which someone else may have opened (issue 12)."""
    scopes = oauth_request.scope.split()
    if "consent" in _prompts(oauth_request):
        # OIDC Core §3.1.2.1 prompt=consent: ask again, so only consent given for this very
        # request (since it began) counts.
        return pending is None or not interaction.consent_covers(
            user, client, scopes, since=pending.created_at
        )
    if client.first_party:
        return False
    return not interaction.consent_covers(user, client, scopes)


def continue_url(challenge: str) -> str:
    return url_for("oauth.authorize_continue") + "?" + urlencode({"challenge": challenge})
