"""Discovery, JWKS, userinfo, revocation (RFC 7009), introspection (RFC 7662) and logout."""

from __future__ import annotations

import pytest
import requests

from idp.cli import create_client

from conftest import CITIZEN_NID
from oauth_helpers import authorize_url, code_grant, csrf_token, follow_to_code, pkce_pair, query


@pytest.fixture
def tokens(client, citizen, register_client):
    """A first-party client and the tokens of one sign-in: (client, secret, token response)."""
    registered, secret = register_client(first_party=True)
    verifier, challenge = pkce_pair()
    params = follow_to_code(
        client, authorize_url(registered.client_id, "openid profile email", challenge), CITIZEN_NID
    )
    body = client.post(
        "/token", data=code_grant(params["code"], verifier), auth=(registered.client_id, secret)
    ).get_json()
    return registered, secret, body


def test_discovery_is_complete_and_true(app, client):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        meta = client.get(path).get_json()
        issuer = app.config["ISSUER"]
        assert meta["issuer"] == issuer
        for endpoint in (
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "revocation_endpoint",
            "introspection_endpoint",
            "end_session_endpoint",
        ):
            assert meta[endpoint].startswith(issuer)
            assert client.open(meta[endpoint][len(issuer) :]).status_code != 404, endpoint
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["response_types_supported"] == ["code"]
        assert {"RS256", "ES256"} <= set(meta["id_token_signing_alg_values_supported"])
        assert {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"} == set(
            meta["token_endpoint_auth_methods_supported"]
        )
        assert {"openid", "profile", "email", "phone", "nid", "business"} <= set(
            meta["scopes_supported"]
        )
        assert meta["authorization_response_iss_parameter_supported"] is True
        assert meta["request_parameter_supported"] is False


def test_jwks_has_kids_public_parts_only_and_caching(client):
    response = client.get("/jwks.json")
    keys = response.get_json()["keys"]
    assert {key["alg"] for key in keys} >= {"RS256", "ES256"}
    for key in keys:
        assert key["kid"] and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    assert "max-age=" in response.headers["Cache-Control"]
    assert response.headers["ETag"]
    again = client.get("/jwks.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_userinfo_returns_exactly_the_consented_claims(client, tokens):
    _, _, body = tokens
    for method in ("GET", "POST"):
        info = client.open(
            "/userinfo", method=method, headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert info.status_code == 200
        assert set(info.get_json()) == {
            "sub",
            "given_name",
            "family_name",
            "birthdate",
            "email",
            "email_verified",
        }


def test_userinfo_accepts_a_form_body_token_on_post(client, tokens):
    _, _, body = tokens
    info = client.post("/userinfo", data={"access_token": body["access_token"]})
    assert info.status_code == 200


def test_userinfo_without_token_is_401_with_bearer_challenge(client):
    response = client.get("/userinfo")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_userinfo_with_a_bad_token_is_invalid_token(client, tokens):
    _, _, body = tokens
    for token in ("garbage", body["id_token"], body["refresh_token"]):
        response = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_userinfo_without_openid_scope_names_the_scope_in_its_challenge(live_provider):
    # RFC 6750 §3 / OIDC Core §5.3.3: a client_credentials token has no openid scope.
    with live_provider.app.app_context():
        service, secret = create_client(
            name="Batch service", grant_types=["client_credentials"], scopes=["openid"]
        )
    token = requests.post(
        f"{live_provider.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, secret),
        timeout=10,
    ).json()["access_token"]
    response = requests.get(
        f"{live_provider.url}/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge and 'scope="openid"' in challenge


def test_userinfo_refuses_tokens_in_the_url(client, tokens):
    _, _, body = tokens
    assert client.get(f"/userinfo?access_token={body['access_token']}").status_code == 400


def test_introspection_of_own_tokens(app, client, tokens):
    registered, secret, body = tokens
    info = client.post(
        "/introspect", data={"token": body["access_token"]}, auth=(registered.client_id, secret)
    ).get_json()
    assert info["active"] is True
    assert info["client_id"] == registered.client_id
    assert info["iss"] == app.config["ISSUER"]
    info = client.post(
        "/introspect",
        data={"token": body["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(registered.client_id, secret),
    ).get_json()
    assert info["active"] is True and info["scope"] == "openid profile email"


def test_introspection_hides_other_clients_tokens(client, tokens, register_client):
    _, _, body = tokens
    other, other_secret = register_client(name="Other")
    info = client.post(
        "/introspect", data={"token": body["access_token"]}, auth=(other.client_id, other_secret)
    ).get_json()
    assert info == {"active": False}


def test_introspection_requires_client_authentication(client, tokens):
    _, _, body = tokens
    response = client.post("/introspect", data={"token": body["access_token"]})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_revoking_an_access_token(client, tokens):
    registered, secret, body = tokens
    response = client.post(
        "/revoke", data={"token": body["access_token"]}, auth=(registered.client_id, secret)
    )
    assert response.status_code == 200
    info = client.post(
        "/introspect", data={"token": body["access_token"]}, auth=(registered.client_id, secret)
    ).get_json()
    assert info == {"active": False}
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/userinfo", headers=headers).status_code == 401


def test_revoking_a_refresh_token_ends_its_grant(client, tokens):
    registered, secret, body = tokens
    client.post(
        "/revoke",
        data={"token": body["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(registered.client_id, secret),
    )
    refresh = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=(registered.client_id, secret),
    )
    assert refresh.get_json()["error"] == "invalid_grant"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/userinfo", headers=headers).status_code == 401


def test_revoking_an_unknown_token_is_ok(client, tokens):
    registered, secret, _ = tokens
    response = client.post(
        "/revoke", data={"token": "unknown"}, auth=(registered.client_id, secret)
    )
    assert response.status_code == 200


def test_logout_with_id_token_hint_redirects_with_state(client, tokens):
    registered, _, body = tokens
    response = client.get(
        "/logout",
        query_string={
            "id_token_hint": body["id_token"],
            "post_logout_redirect_uri": "https://rp.example.org/bye",
            "state": "bye-1",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://rp.example.org/bye?state=bye-1"
    # The session is over: prompt=none now needs a login, and the tokens are revoked.
    _, challenge = pkce_pair()
    again = client.get(authorize_url(registered.client_id, challenge=challenge, prompt="none"))
    assert query(again.headers["Location"])["error"] == "login_required"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/userinfo", headers=headers).status_code == 401


def test_logout_never_redirects_to_an_unregistered_uri(client, tokens):
    _, _, body = tokens
    response = client.get(
        "/logout",
        query_string={
            "id_token_hint": body["id_token"],
            "post_logout_redirect_uri": "https://evil.example/",
        },
    )
    assert response.status_code == 200
    assert "Location" not in response.headers


def test_logout_without_hint_asks_for_confirmation(client, tokens):
    page = client.get("/logout")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="confirm"' in html
    # Nothing happened yet.
    assert client.get("/account").status_code == 200
    done = client.post("/logout", data={"confirm": "yes", "csrf_token": csrf_token(html)})
    assert done.status_code == 200
    assert client.get("/account").status_code == 302


def test_logout_with_a_forged_hint_is_an_error_page(client, tokens):
    response = client.get("/logout", query_string={"id_token_hint": "e30.e30.e30"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_someone_elses_id_token_cannot_sign_this_browser_out(app, client, tokens):
    registered, _, body = tokens
    other_browser = app.test_client()
    _, challenge = pkce_pair()
    params = follow_to_code(
        other_browser, authorize_url(registered.client_id, challenge=challenge), CITIZEN_NID
    )
    assert params["code"]
    # The first browser's ID token, used in a link opened by the second browser.
    response = other_browser.get("/logout", query_string={"id_token_hint": body["id_token"]})
    assert response.status_code == 200
    assert 'name="confirm"' in response.get_data(as_text=True)
    assert other_browser.get("/account").status_code == 200
