"""Dynamic Client Registration (RFC 7591) and its management (RFC 7592), over real HTTP.

An operator issues an initial access token, the agency registers its client with it, the client
waits for the operator's approval, and then people can sign in to it.
"""

from __future__ import annotations

import re
import secrets
import threading

import pytest
import requests
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select, update

from idp import security
from idp.cli import create_client, create_user
from idp.models import AuditEvent, Client, Grant, InitialAccessToken, db
from idp.oauth.registration import uri_problem

from conftest import CITIZEN_NID, PASSWORD
from oauth_helpers import REDIRECT_URI, authorize_url, code_grant, follow_to_code, login, pkce_pair

METADATA = {
    "client_name": "Agjencia Kombëtare e Shoqërisë së Informacionit",
    "redirect_uris": [REDIRECT_URI],
    "post_logout_redirect_uris": ["https://rp.example.org/bye"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_basic",
    "scope": "openid profile email",
    "client_uri": "https://rp.example.org/",
    "logo_uri": "https://rp.example.org/logo.png",
    "policy_uri": "https://rp.example.org/privacy",
    "tos_uri": "https://rp.example.org/terms",
    "contacts": ["it@rp.example.org"],
}


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def initial_token(app, *options: str) -> str:
    """Issue an initial access token the way an operator does; returns the printed token."""
    result = run(app, "clients", "initial-token", "--description", "AKSHI, test", *options)
    assert result.exit_code == 0, result.output
    return re.search(r"initial access token: (\S+)", result.output).group(1)


def register(provider, token: str | None, **changes) -> requests.Response:
    """POST the metadata (with changes; a None value leaves the field out) to the endpoint."""
    body = {key: value for key, value in {**METADATA, **changes}.items() if value is not None}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{provider.url}/oauth/register", json=body, headers=headers, timeout=10)


def manage(provider, method: str, client_id: str, token: str, body: dict | None = None):
    return requests.request(
        method,
        f"{provider.url}/oauth/register/{client_id}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def stored(app, client_id: str) -> Client:
    with app.app_context():
        return db.session.execute(select(Client).where(Client.client_id == client_id)).scalar()


@pytest.fixture
def provider(live_provider):
    with live_provider.app.app_context():
        create_user(
            kind="citizen",
            identifier=CITIZEN_NID,
            password=PASSWORD,
            email="arta@example.org",
            phone="+355690000001",
        )
    return live_provider


@pytest.fixture
def registered(provider) -> dict:
    """One client registered dynamically (still pending)."""
    response = register(provider, initial_token(provider.app))
    assert response.status_code == 201, response.text
    return response.json()


def test_registration_answers_with_the_rfc7591_client_information(provider):
    token = initial_token(provider.app)
    response = register(provider, token)
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    client_id = body["client_id"]
    assert body["registration_client_uri"] == f"{provider.url}/oauth/register/{client_id}"
    assert body["client_secret_expires_at"] == 0
    assert isinstance(body["client_id_issued_at"], int)
    assert len(body["client_secret"]) >= 43 and len(body["registration_access_token"]) >= 43
    for field, value in METADATA.items():
        assert body[field] == value, field
    assert body["subject_type"] == "public"
    assert body["id_token_signed_response_alg"] == "RS256"
    # Secrets exist only as digests; the client waits for an operator.
    client = stored(provider.app, client_id)
    assert client.approved is False
    assert client.client_secret_hash == security.digest(body["client_secret"])
    assert client.registration_token_hash == security.digest(body["registration_access_token"])
    with provider.app.app_context():
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.event == "client.registered")
        ).scalar()
        assert (event.outcome, event.client_id) == ("pending", client_id)
        assert body["client_secret"] not in str(event.detail)


def test_client_signs_nobody_in_until_an_operator_approves_it(provider, registered):
    client_id, secret = registered["client_id"], registered["client_secret"]
    _, challenge = pkce_pair()
    refused = requests.get(
        provider.url + authorize_url(client_id, "openid email", challenge),
        allow_redirects=False,
        timeout=10,
    )
    assert refused.status_code == 400
    assert "Location" not in refused.headers
    token = requests.post(
        f"{provider.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(client_id, secret),
        timeout=10,
    )
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"
    listing = run(provider.app, "clients", "list").output
    assert re.search(rf"{client_id}\s+pending", listing), listing

    approved = run(provider.app, "clients", "approve", client_id)
    assert approved.exit_code == 0, approved.output
    assert re.search(rf"{client_id}\s+active", run(provider.app, "clients", "list").output)
    browser = provider.app.test_client()
    verifier, challenge = pkce_pair()
    params = follow_to_code(
        browser, authorize_url(client_id, "openid email", challenge), CITIZEN_NID
    )
    tokens = browser.post(
        "/token", data=code_grant(params["code"], verifier), auth=(client_id, secret)
    )
    assert tokens.status_code == 200, tokens.get_json()
    assert {"access_token", "id_token", "refresh_token"} <= tokens.get_json().keys()
    with provider.app.app_context():
        assert db.session.execute(
            select(AuditEvent).where(
                AuditEvent.event == "client.approved", AuditEvent.client_id == client_id
            )
        ).scalar()


def test_initial_access_token_is_shown_once_and_stored_as_a_digest(provider):
    token = initial_token(provider.app, "--uses", "3", "--days", "2")
    with provider.app.app_context():
        row = db.session.execute(select(InitialAccessToken)).scalar()
        assert row.token_hash == security.digest(token)
        assert row.uses_left == 3
        assert row.description == "AKSHI, test"
        assert 2 * 86400 - 60 < row.expires_at - row.created_at <= 2 * 86400
        assert token not in run(provider.app, "audit", "list", "--json").output


def _expired(app, token: str) -> str:
    with app.app_context():
        db.session.execute(
            update(InitialAccessToken)
            .where(InitialAccessToken.token_hash == security.digest(token))
            .values(expires_at=InitialAccessToken.created_at - 1)
        )
        db.session.commit()
    return token


@pytest.mark.parametrize(
    "authorization",
    [
        lambda app: None,
        lambda app: "not-a-token-we-issued",
        lambda app: _expired(app, initial_token(app)),
    ],
    ids=["missing", "wrong", "expired"],
)
def test_registration_without_a_valid_initial_token_is_401(provider, authorization):
    response = register(provider, authorization(provider.app))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    with provider.app.app_context():
        assert db.session.execute(select(Client)).first() is None


def test_basic_credentials_are_not_an_initial_token(provider):
    token = initial_token(provider.app)
    response = requests.post(
        f"{provider.url}/oauth/register", json=METADATA, auth=(token, ""), timeout=10
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_initial_token_registers_as_many_clients_as_it_has_uses(provider):
    token = initial_token(provider.app, "--uses", "2")
    assert register(provider, token).status_code == 201
    assert register(provider, token).status_code == 201
    used_up = register(provider, token)
    assert used_up.status_code == 401 and used_up.json()["error"] == "invalid_token"


def test_a_refused_registration_does_not_spend_a_use(provider):
    token = initial_token(provider.app)
    assert register(provider, token, grant_types=["implicit"]).status_code == 400
    assert register(provider, token).status_code == 201


def test_parallel_registrations_cannot_overspend_an_initial_token(provider):
    token = initial_token(provider.app, "--uses", "2")
    statuses = []
    barrier = threading.Barrier(6)

    def attempt():
        barrier.wait()
        statuses.append(register(provider, token).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 201, 401, 401, 401, 401]
    with provider.app.app_context():
        assert len(db.session.execute(select(Client)).all()) == 2


def test_http_redirect_uri_outside_loopback_is_invalid_redirect_uri(provider):
    token = initial_token(provider.app, "--uses", "9")
    for uris in (
        ["http://rp.example.org/cb"],
        ["https://rp.example.org/cb#frag"],
        ["https://rp.example.org:99999/cb"],
        ["https://exa mple.org/cb"],
        # Never allowed unescaped in a URI (RFC 3986 §2), and /authorize refuses them.
        ['https://rp.example.org/cb"x'],
        ["https://rp.example.org/cb\\x"],
        ["https://rp.example.org/<cb>"],
        [],
    ):
        response = register(provider, token, redirect_uris=uris)
        assert response.status_code == 400, uris
        assert response.json()["error"] == "invalid_redirect_uri", uris
    # A development machine's loopback may use http (RFC 8252 §7.3).
    loopback = register(provider, token, redirect_uris=["http://127.0.0.1:8080/cb"])
    assert loopback.status_code == 201, loopback.text


def test_production_refuses_http_even_on_loopback(make_app):
    assert uri_problem("http://127.0.0.1:8080/cb", production=True) == "must use https"
    assert uri_problem("http://localhost/cb", production=False) is None
    assert uri_problem("https://rp.example.org/cb", production=True) is None
    app = make_app()
    app.config["ENV"] = "production"
    with app.app_context():
        token_value = security.generate_secret()
        db.session.add(
            InitialAccessToken(
                token_hash=security.digest(token_value),
                description="t",
                expires_at=2**31 - 1,
                uses_left=1,
            )
        )
        db.session.commit()
    response = app.test_client().post(
        "/oauth/register",
        json={**METADATA, "redirect_uris": ["http://127.0.0.1:8080/cb"]},
        headers={"Authorization": f"Bearer {token_value}"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_redirect_uri"


PRIVATE_EC = ECKey.generate_key("P-256", parameters={"kid": "k1"})


@pytest.mark.parametrize(
    "changes",
    [
        {"client_name": None},
        {"client_name": "  "},
        {"client_name": 42},
        {"client_name": "x" * 201},
        {"client_name": "Agency\u0000"},
        {"grant_types": ["implicit"]},
        {"grant_types": "authorization_code"},
        {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
        {"response_types": ["token"]},
        {"response_types": ["code", "id_token"]},
        {"token_endpoint_auth_method": "client_secret_jwt"},
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://rp.example.org/k"},
        {
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [PRIVATE_EC.as_dict(private=True)]},
        },
        {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
        {"jwks": {"keys": "none"}},
        {"jwks": {"keys": [1]}},
        {"scope": 'openid "quoted"'},
        {"scope": ["openid"]},
        {"id_token_signed_response_alg": "HS256"},
        {"id_token_signed_response_alg": "none"},
        {"id_token_encrypted_response_alg": "RSA-OAEP"},
        {"userinfo_signed_response_alg": "RS256"},
        {"sector_identifier_uri": "https://rp.example.org/sector.json"},
        {"subject_type": "secret"},
        {
            "subject_type": "pairwise",
            "redirect_uris": ["https://a.example.org/cb", "https://b.example.org/cb"],
        },
        {"logo_uri": "http://rp.example.org/logo.png"},
        {"policy_uri": "https://rp.example.org/privacy#top"},
        {"tos_uri": "javascript:alert(1)"},
        {"client_uri": "https://rp.example.org@evil.example/"},
        {"client_uri": "x" * 600},
        {"post_logout_redirect_uris": ["http://rp.example.org/bye"]},
        {"post_logout_redirect_uris": "https://rp.example.org/bye"},
        {"backchannel_logout_uri": "ftp://rp.example.org/logout"},
        {"contacts": "it@rp.example.org"},
        {"contacts": [{"email": "it@rp.example.org"}]},
        {"default_acr_values": [{}]},
        {"request_uris": [5]},
        {"redirect_uris": "https://rp.example.org/cb"},
        {"redirect_uris": [["https://rp.example.org/cb"]]},
    ],
)
def test_bad_metadata_is_invalid_client_metadata(provider, changes):
    token = initial_token(provider.app)
    response = register(provider, token, **changes)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"


@pytest.mark.parametrize(
    "data,content_type",
    [("not json", "application/json"), ("[]", "application/json"), ("{}", "text/plain")],
)
def test_a_body_that_is_not_a_json_object_is_invalid_client_metadata(provider, data, content_type):
    response = requests.post(
        f"{provider.url}/oauth/register",
        data=data,
        headers={
            "Authorization": f"Bearer {initial_token(provider.app)}",
            "Content-Type": content_type,
        },
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


def test_software_statements_are_not_supported(provider):
    response = register(provider, initial_token(provider.app), software_statement="e30.e30.sig")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_software_statement"


def test_kinds_of_client_that_may_register(provider):
    token = initial_token(provider.app, "--uses", "5")
    public = register(provider, token, token_endpoint_auth_method="none")
    assert public.status_code == 201, public.text
    assert "client_secret" not in public.json()
    assert "client_secret_expires_at" not in public.json()
    public_key = RSAKey.generate_key(2048).as_dict(private=False)
    signed = register(
        provider, token, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public_key]}
    )
    assert signed.status_code == 201, signed.text
    assert "client_secret" not in signed.json()
    assert stored(provider.app, signed.json()["client_id"]).jwks == {"keys": [public_key]}
    back_end = register(
        provider,
        token,
        grant_types=["client_credentials"],
        response_types=None,
        redirect_uris=None,
        scope="agency.read",
    )
    assert back_end.status_code == 201, back_end.text
    assert back_end.json()["response_types"] == []
    pairwise = register(
        provider,
        token,
        subject_type="pairwise",
        id_token_signed_response_alg="ES256",
        scope="openid nid tatime:read",
        **{"client_name#sq": "Shërbimi", "software_id": "agency-portal"},
    )
    assert pairwise.status_code == 201, pairwise.text
    body = pairwise.json()
    assert (body["subject_type"], body["id_token_signed_response_alg"]) == ("pairwise", "ES256")
    assert body["scope"] == "openid nid tatime:read"
    assert "client_name#sq" not in body
    defaults = register(
        provider,
        token,
        grant_types=None,
        response_types=None,
        token_endpoint_auth_method=None,
        scope=None,
    )
    assert defaults.status_code == 201, defaults.text
    assert defaults.json()["grant_types"] == ["authorization_code"]
    assert defaults.json()["token_endpoint_auth_method"] == "client_secret_basic"
    assert defaults.json()["scope"] == "openid"


def test_registration_access_token_reads_the_registration(provider, registered):
    client_id = registered["client_id"]
    response = manage(provider, "GET", client_id, registered["registration_access_token"])
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    expected = {k: v for k, v in registered.items() if k != "client_secret"}
    assert body == expected
    head = provider.app.test_client().head(
        f"/oauth/register/{client_id}",
        headers={"Authorization": f"Bearer {registered['registration_access_token']}"},
    )
    assert head.status_code == 200


def test_management_refuses_wrong_tokens_and_other_clients_tokens(provider, registered):
    other = register(provider, initial_token(provider.app)).json()
    client_id = registered["client_id"]
    for token in ("wrong", registered["client_secret"], other["registration_access_token"]):
        for method in ("GET", "PUT", "DELETE"):
            response = manage(provider, method, client_id, token, {"client_id": client_id})
            assert response.status_code == 401, (method, response.text)
            assert response.json()["error"] == "invalid_token"
            assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    missing = requests.get(registered["registration_client_uri"], timeout=10)
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_token"
    # An unknown client looks the same as a wrong token.
    unknown = manage(provider, "GET", "no-such-client", registered["registration_access_token"])
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_token"
    assert stored(provider.app, client_id).disabled is False


def test_clients_created_by_operators_cannot_be_managed_dynamically(provider):
    with provider.app.app_context():
        rp, _ = create_client(name="RP", redirect_uris=[REDIRECT_URI])
    response = manage(provider, "GET", rp.client_id, "anything")
    assert response.status_code == 401


def _put(provider, registered: dict, **changes) -> requests.Response:
    body = {**METADATA, "client_id": registered["client_id"], **changes}
    body = {key: value for key, value in body.items() if value is not None}
    return manage(
        provider, "PUT", registered["client_id"], registered["registration_access_token"], body
    )


def test_update_keeps_approval_unless_what_the_operator_vouched_for_changes(provider, registered):
    client_id = registered["client_id"]
    run(provider.app, "clients", "approve", client_id)
    key = ECKey.generate_key("P-256").as_dict(private=False)
    rotated = _put(provider, registered, contacts=["new@rp.example.org"], jwks={"keys": [key]})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["contacts"] == ["new@rp.example.org"]
    assert stored(provider.app, client_id).approved is True
    # Omitted fields are cleared (RFC 7592 §2.2): the full metadata replaces the old.
    moved = _put(provider, registered, redirect_uris=["https://new.example.org/cb"], tos_uri=None)
    assert moved.status_code == 200, moved.text
    assert moved.json()["redirect_uris"] == ["https://new.example.org/cb"]
    assert "tos_uri" not in moved.json()
    client = stored(provider.app, client_id)
    assert (client.approved, client.tos_uri) == (False, None)
    # The secret stays the same and still authenticates the client.
    assert client.check_client_secret(registered["client_secret"])


@pytest.mark.parametrize(
    "changes",
    [{"client_name": "Ministria e Financave"}, {"scope": "openid nid"}],
)
def test_update_of_name_or_scopes_needs_approval_again(provider, registered, changes):
    run(provider.app, "clients", "approve", registered["client_id"])
    assert _put(provider, registered, **changes).status_code == 200
    assert stored(provider.app, registered["client_id"]).approved is False


def test_update_checks_client_id_secret_and_metadata(provider, registered):
    wrong_id = _put(provider, registered, client_id="someone-else")
    assert wrong_id.status_code == 400 and wrong_id.json()["error"] == "invalid_request"
    wrong_secret = _put(provider, registered, client_secret="guess")
    assert wrong_secret.status_code == 400 and wrong_secret.json()["error"] == "invalid_request"
    typed_secret = _put(provider, registered, client_secret=12)
    assert typed_secret.status_code == 400
    bad_uri = _put(provider, registered, redirect_uris=["http://rp.example.org/cb"])
    assert bad_uri.status_code == 400 and bad_uri.json()["error"] == "invalid_redirect_uri"
    same_secret = _put(provider, registered, client_secret=registered["client_secret"])
    assert same_secret.status_code == 200, same_secret.text


def test_update_to_a_secret_method_issues_a_secret_once(provider):
    public = register(provider, initial_token(provider.app), token_endpoint_auth_method="none")
    public = public.json()
    response = _put(provider, public, token_endpoint_auth_method="client_secret_post")
    assert response.status_code == 200, response.text
    secret = response.json()["client_secret"]
    assert stored(provider.app, public["client_id"]).check_client_secret(secret)
    again = manage(provider, "GET", public["client_id"], public["registration_access_token"])
    assert "client_secret" not in again.json()


def test_delete_ends_the_client_and_everything_it_was_given(provider, registered):
    client_id, secret = registered["client_id"], registered["client_secret"]
    run(provider.app, "clients", "approve", client_id)
    browser = provider.app.test_client()
    verifier, challenge = pkce_pair()
    params = follow_to_code(browser, authorize_url(client_id, challenge=challenge), CITIZEN_NID)
    tokens = browser.post(
        "/token", data=code_grant(params["code"], verifier), auth=(client_id, secret)
    ).get_json()

    deleted = manage(provider, "DELETE", client_id, registered["registration_access_token"])
    assert deleted.status_code == 204 and deleted.content == b""
    gone = manage(provider, "GET", client_id, registered["registration_access_token"])
    assert gone.status_code == 401
    refresh = requests.post(
        f"{provider.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(client_id, secret),
        timeout=10,
    )
    assert refresh.status_code == 401 and refresh.json()["error"] == "invalid_client"
    userinfo = requests.get(
        f"{provider.url}/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 401
    client = stored(provider.app, client_id)
    assert client.disabled and client.client_secret_hash is None
    with provider.app.app_context():
        grants = db.session.execute(select(Grant).where(Grant.client_id == client_id)).scalars()
        assert all(grant.revoked_at for grant in grants)


def test_consent_screen_shows_logo_and_links_of_the_service(app, citizen, register_client):
    rp, _ = register_client(
        logo_uri="https://rp.example.org/logo.png",
        client_uri="https://rp.example.org/",
        policy_uri="https://rp.example.org/privacy",
        tos_uri="https://rp.example.org/terms",
    )
    page = _consent_page(app, rp.client_id)
    assert re.search(r'<img src="https://rp.example.org/logo.png" alt="[^"]+"', page)
    for uri in ("https://rp.example.org/", "https://rp.example.org/privacy"):
        assert f'<a href="{uri}" rel="noopener noreferrer">' in page
    assert '<a href="https://rp.example.org/terms" rel="noopener noreferrer">' in page
    assert "target=" not in page


def test_consent_screen_without_logo_or_links(app, citizen, register_client):
    rp, _ = register_client()
    page = _consent_page(app, rp.client_id)
    assert "<img" not in page and "noopener" not in page


def _consent_page(app, client_id: str) -> str:
    browser = app.test_client()
    _, challenge = pkce_pair()
    response = browser.get(authorize_url(client_id, challenge=challenge))
    for _ in range(4):
        location = response.headers["Location"]
        if location.startswith("/consent"):
            page = browser.get(location)
            assert page.status_code == 200
            return page.get_data(as_text=True)
        if location.startswith("/login"):
            response = login(browser, location, CITIZEN_NID)
        else:
            response = browser.get(location)
    raise AssertionError("no consent page")


def test_discovery_names_the_registration_endpoint(live_provider):
    metadata = requests.get(f"{live_provider.url}/.well-known/openid-configuration", timeout=10)
    assert metadata.json()["registration_endpoint"] == f"{live_provider.url}/oauth/register"


def test_operator_creates_clients_with_consent_screen_links(app):
    result = run(
        app,
        "clients",
        "create",
        "--name",
        "Agency",
        "--redirect-uri",
        REDIRECT_URI,
        "--client-uri",
        "https://rp.example.org/",
        "--logo-uri",
        "https://rp.example.org/logo.png",
        "--policy-uri",
        "https://rp.example.org/privacy",
        "--tos-uri",
        "https://rp.example.org/terms",
        "--backchannel-logout-uri",
        "https://rp.example.org/logout",
        "--json",
    )
    assert result.exit_code == 0, result.output
    client_id = re.search(r'"client_id": "([^"]+)"', result.output).group(1)
    client = stored(app, client_id)
    assert client.approved and client.logo_uri == "https://rp.example.org/logo.png"
    assert client.backchannel_logout_uri == "https://rp.example.org/logout"
    options = ["--name", "X", "--redirect-uri", REDIRECT_URI]
    refused = run(app, "clients", "create", *options, "--logo-uri", "http://rp.example.org/a.png")
    assert refused.exit_code != 0 and "must use https" in refused.output


def test_approving_an_unknown_client_fails(app):
    result = run(app, "clients", "approve", "no-such-client")
    assert result.exit_code != 0 and "no client" in result.output


def test_registered_client_ids_never_start_with_a_dash(provider, monkeypatch):
    # Operators pass client ids to commands (`idp clients approve ID`), which read "-x" as an
    # option. Every first 16-byte draw here starts with "-"; the id issued must not.
    real = secrets.token_urlsafe
    dashes = []

    def token_urlsafe(nbytes=None):
        value = real(nbytes)
        if nbytes == 16 and not dashes:
            dashes.append(value)
            return "-" + value[1:]
        return value

    monkeypatch.setattr(secrets, "token_urlsafe", token_urlsafe)
    response = register(provider, initial_token(provider.app))
    assert response.status_code == 201, response.text
    assert dashes and not response.json()["client_id"].startswith("-")
