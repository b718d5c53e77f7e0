"""The authorization endpoint: validation, errors, prompts, consent (RFC 6749 §4.1, OIDC §3.1)."""

from __future__ import annotations

import time

from conftest import CITIZEN_NID
from oauth_helpers import (
    REDIRECT_URI,
    authorize_url,
    follow_to_code,
    login,
    pkce_pair,
    query,
)


def _signed_in(client, app, rp_id: str) -> None:
    """Sign in once through a first request so the SSO session exists."""
    _, challenge = pkce_pair()
    follow_to_code(client, authorize_url(rp_id, challenge=challenge), CITIZEN_NID)


def test_unknown_client_gets_an_error_page_not_a_redirect(client):
    response = client.get(authorize_url("no-such-client"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert b"invalid_client" in response.data


def test_unregistered_redirect_uri_is_never_redirected_to(client, register_client):
    rp, _ = register_client()
    url = authorize_url(rp.client_id).replace("rp.example.org%2Fcb", "evil.example%2Fcb")
    response = client.get(url)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_redirect_uri_prefix_is_not_a_match(client, register_client):
    rp, _ = register_client()
    _, challenge = pkce_pair()
    url = authorize_url(rp.client_id, challenge=challenge).replace("%2Fcb", "%2Fcb%2Fextra")
    assert client.get(url).status_code == 400


def test_unsupported_response_type_is_redirected_with_state_and_iss(app, client, register_client):
    rp, _ = register_client()
    response = client.get(authorize_url(rp.client_id, response_type="token", state="xyz"))
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert response.headers["Location"].startswith(REDIRECT_URI)
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == "xyz"
    assert params["iss"] == app.config["ISSUER"]


def test_unknown_scope_is_invalid_scope(client, register_client):
    rp, _ = register_client(scopes=["openid"])
    _, challenge = pkce_pair()
    response = client.get(authorize_url(rp.client_id, "openid nid", challenge))
    assert query(response.headers["Location"])["error"] == "invalid_scope"


def test_client_without_code_grant_is_unauthorized_client(client, register_client):
    rp, _ = register_client(grant_types=["client_credentials"], redirect_uris=[REDIRECT_URI])
    response = client.get(authorize_url(rp.client_id))
    assert query(response.headers["Location"])["error"] == "unauthorized_client"


def test_public_client_must_use_pkce(client, register_client):
    rp, _ = register_client(client_type="public", grant_types=["authorization_code"])
    response = client.get(authorize_url(rp.client_id))
    params = query(response.headers["Location"])
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]


def test_plain_pkce_is_refused(client, register_client):
    rp, _ = register_client(client_type="public", grant_types=["authorization_code"])
    verifier = "a" * 50
    response = client.get(
        authorize_url(rp.client_id, code_challenge=verifier, code_challenge_method="plain")
    )
    assert query(response.headers["Location"])["error"] == "invalid_request"
    response = client.get(authorize_url(rp.client_id, code_challenge=verifier))
    assert query(response.headers["Location"])["error"] == "invalid_request"


def test_repeated_parameter_is_invalid_request(client, register_client):
    rp, _ = register_client()
    response = client.get(authorize_url(rp.client_id) + "&scope=openid")
    assert response.status_code == 302
    assert query(response.headers["Location"])["error"] == "invalid_request"


def test_repeated_client_id_is_an_error_page(client, register_client):
    rp, _ = register_client()
    response = client.get(authorize_url(rp.client_id) + f"&client_id={rp.client_id}")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_oversized_parameter_is_invalid_request(client, register_client):
    rp, _ = register_client()
    response = client.get(authorize_url(rp.client_id, nonce="n" * 5000))
    assert query(response.headers["Location"])["error"] == "invalid_request"


def test_request_objects_are_not_supported(client, register_client):
    rp, _ = register_client()
    _, challenge = pkce_pair()
    response = client.get(authorize_url(rp.client_id, challenge=challenge, request="e30.e30."))
    assert query(response.headers["Location"])["error"] == "request_not_supported"


def test_prompt_none_without_session_is_login_required(client, register_client):
    rp, _ = register_client()
    _, challenge = pkce_pair()
    response = client.get(authorize_url(rp.client_id, challenge=challenge, prompt="none"))
    params = query(response.headers["Location"])
    assert params["error"] == "login_required"
    assert "code" not in params


def test_prompt_none_without_consent_is_consent_required(app, client, register_client, citizen):
    first, _ = register_client(first_party=True)
    other, _ = register_client(name="Other agency")
    _signed_in(client, app, first.client_id)
    _, challenge = pkce_pair()
    response = client.get(
        authorize_url(other.client_id, "openid profile", challenge, prompt="none")
    )
    assert query(response.headers["Location"])["error"] == "consent_required"


def test_second_client_signs_in_without_new_login(app, client, register_client, citizen):
    first, _ = register_client(first_party=True)
    second, _ = register_client(name="Second", first_party=True)
    _signed_in(client, app, first.client_id)
    _, challenge = pkce_pair()
    response = client.get(authorize_url(second.client_id, challenge=challenge, prompt="none"))
    assert "code" in query(response.headers["Location"])


def test_prompt_login_forces_a_new_login(app, client, register_client, citizen):
    rp, _ = register_client(first_party=True)
    _signed_in(client, app, rp.client_id)
    _, challenge = pkce_pair()
    response = client.get(authorize_url(rp.client_id, challenge=challenge, prompt="login"))
    assert response.headers["Location"].startswith("/login")
    response = login(client, response.headers["Location"], CITIZEN_NID)
    response = client.get(response.headers["Location"])
    assert "code" in query(response.headers["Location"])


def test_max_age_forces_login_when_the_session_is_older(
    app, client, register_client, citizen, monkeypatch
):
    rp, _ = register_client(first_party=True)
    _signed_in(client, app, rp.client_id)
    _, challenge = pkce_pair()
    response = client.get(authorize_url(rp.client_id, challenge=challenge, max_age="3600"))
    assert "code" in query(response.headers["Location"])
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.get(authorize_url(rp.client_id, challenge=challenge, max_age="60"))
    assert response.headers["Location"].startswith("/login")


def test_invalid_max_age_is_invalid_request(client, register_client):
    rp, _ = register_client()
    _, challenge = pkce_pair()
    response = client.get(authorize_url(rp.client_id, challenge=challenge, max_age="-5"))
    assert query(response.headers["Location"])["error"] == "invalid_request"


def test_consent_denied_is_access_denied(app, client, register_client, citizen):
    rp, _ = register_client()
    _, challenge = pkce_pair()
    params = follow_to_code(
        client,
        authorize_url(rp.client_id, "openid nid", challenge, state="s1"),
        CITIZEN_NID,
        decision="deny",
    )
    assert params["error"] == "access_denied"
    assert "code" not in params
    assert params["state"] == "s1" and params["iss"] == app.config["ISSUER"]


def test_consent_is_remembered_and_asked_again_for_more(app, client, register_client, citizen):
    rp, _ = register_client()
    _, challenge = pkce_pair()
    follow_to_code(client, authorize_url(rp.client_id, "openid profile", challenge), CITIZEN_NID)
    response = client.get(authorize_url(rp.client_id, "openid profile", challenge))
    assert "code" in query(response.headers["Location"])
    response = client.get(authorize_url(rp.client_id, "openid profile nid", challenge))
    assert response.headers["Location"].startswith("/consent")


def test_consent_page_names_the_data_in_plain_words(app, client, register_client, citizen):
    rp, _ = register_client(name="Drejtoria e Gjendjes Civile")
    _, challenge = pkce_pair()
    response = client.get(authorize_url(rp.client_id, "openid nid", challenge, ui_locales="en"))
    response = login(client, response.headers["Location"], CITIZEN_NID)
    response = client.get(response.headers["Location"])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Drejtoria e Gjendjes Civile" in page
    assert "NID" in page


def test_consent_can_be_revoked_by_the_person(app, client, register_client, citizen):
    rp, _ = register_client()
    _, challenge = pkce_pair()
    follow_to_code(client, authorize_url(rp.client_id, "openid profile", challenge), CITIZEN_NID)
    page = client.get("/account").get_data(as_text=True)
    from oauth_helpers import csrf_token

    response = client.post(
        f"/account/consents/{rp.client_id}/revoke", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 302
    response = client.get(authorize_url(rp.client_id, "openid profile", challenge))
    assert response.headers["Location"].startswith("/consent")


def test_login_with_unknown_or_wrong_password_gives_the_same_answer(
    client, register_client, citizen
):
    rp, _ = register_client()
    _, challenge = pkce_pair()
    location = client.get(authorize_url(rp.client_id, challenge=challenge)).headers["Location"]
    wrong = login(client, location, CITIZEN_NID, password="not the password")
    unknown = login(client, location, "J00101998O", password="not the password")
    assert wrong.status_code == unknown.status_code == 400

    def message(response):
        return response.get_data(as_text=True).split('role="alert">')[1].split("<")[0]

    assert message(wrong) == message(unknown)


def test_login_refuses_a_malformed_identifier_with_a_clear_message(client):
    page = client.get("/login?lang=en").get_data(as_text=True)
    from oauth_helpers import csrf_token

    response = client.post(
        "/login?lang=en", data={"csrf_token": csrf_token(page), "nid": "12345", "password": "x"}
    )
    assert response.status_code == 400
    assert "NID or NIPT" in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, citizen):
    response = client.post("/login", data={"nid": CITIZEN_NID, "password": "x"})
    assert response.status_code == 400
    assert "idp_sso" not in response.headers.get("Set-Cookie", "")


def test_business_signs_in_with_nipt(app, client, register_client, business):
    rp, _ = register_client(first_party=True)
    _, challenge = pkce_pair()
    params = follow_to_code(
        client, authorize_url(rp.client_id, "openid business", challenge), "K22218003V"
    )
    assert "code" in params


def test_login_hint_prefills_the_identifier(client, register_client):
    rp, _ = register_client()
    _, challenge = pkce_pair()
    location = client.get(
        authorize_url(rp.client_id, challenge=challenge, login_hint=CITIZEN_NID)
    ).headers["Location"]
    assert f'value="{CITIZEN_NID}"' in client.get(location).get_data(as_text=True)


def test_expired_login_challenge_shows_a_page(client):
    response = client.get("/login?login_challenge=does-not-exist")
    assert response.status_code == 400


def test_ui_locales_chooses_the_page_language(client, register_client):
    rp, _ = register_client()
    _, challenge = pkce_pair()
    location = client.get(
        authorize_url(rp.client_id, challenge=challenge, ui_locales="en-GB sq")
    ).headers["Location"]
    assert '<html lang="en">' in client.get(location).get_data(as_text=True)
