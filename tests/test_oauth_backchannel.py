"""Back-channel logout from the provider: signed logout tokens to every other relying party of
an ended sign-in, retried when the relying party is down (OpenID Connect Back-Channel Logout)."""

from __future__ import annotations

from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.models import AuditEvent, db

from conftest import CITIZEN_NID
from oauth_helpers import (
    authorize_url,
    code_grant,
    csrf_token,
    follow_to_code,
    pkce_pair,
    wait_for,
)

EVENT = "http://schemas.openid.net/event/backchannel-logout"


def _sign_in(browser, register_client, receiver_url, name):
    rp, secret = register_client(name=name, first_party=True, backchannel_logout_uri=receiver_url)
    verifier, challenge = pkce_pair()
    params = follow_to_code(browser, authorize_url(rp.client_id, challenge=challenge), CITIZEN_NID)
    token = browser.post(
        "/token", data=code_grant(params["code"], verifier), auth=(rp.client_id, secret)
    ).get_json()
    return rp, token


def _logout_tokens(receiver, app):
    keys = KeySet.import_key_set(app.test_client().get("/jwks.json").get_json())
    tokens = []
    for request in receiver.requests:
        token = parse_qs(request.body.decode())["logout_token"][0]
        tokens.append(jwt.decode(token, keys))
    return tokens


def test_logout_at_one_client_notifies_every_client_of_the_session(
    app, client, citizen, register_client, gateway
):
    receiver = gateway()
    portal, portal_token = _sign_in(client, register_client, receiver.url, "Portal")
    agency, _ = _sign_in(client, register_client, receiver.url, "Agency")
    client.get("/logout", query_string={"id_token_hint": portal_token["id_token"]})
    wait_for(lambda: len(receiver.requests) == 2)
    decoded = _logout_tokens(receiver, app)
    sid = jwt.decode(
        portal_token["id_token"], KeySet.import_key_set(client.get("/jwks.json").get_json())
    ).claims["sid"]
    assert {token.claims["aud"] for token in decoded} == {portal.client_id, agency.client_id}
    for token in decoded:
        assert token.header["typ"] == "logout+jwt"
        assert token.claims["sid"] == sid
        assert token.claims["events"] == {EVENT: {}}
        assert token.claims["iss"] == app.config["ISSUER"]
        assert "nonce" not in token.claims and token.claims["jti"] and token.claims["sub"]


def test_an_unreachable_client_is_retried(app, client, citizen, register_client, gateway):
    receiver = gateway(answers=(503,))
    _, token = _sign_in(client, register_client, receiver.url, "Agency")
    client.get("/logout", query_string={"id_token_hint": token["id_token"]})
    wait_for(lambda: len(receiver.requests) == 2)

    def delivered():
        with app.app_context():
            return db.session.execute(
                select(AuditEvent.outcome).where(AuditEvent.event == "logout.backchannel")
            ).scalars().all() == ["ok"]

    wait_for(delivered)


def test_signing_out_everywhere_notifies_the_clients_of_other_sessions(
    app, client, citizen, register_client, gateway
):
    receiver = gateway()
    other_browser = app.test_client()
    _sign_in(other_browser, register_client, receiver.url, "Agency")
    follow_to_code(
        client,
        authorize_url(register_client(first_party=True)[0].client_id, challenge=pkce_pair()[1]),
        CITIZEN_NID,
    )
    page = client.get("/account").get_data(as_text=True)
    form = page.split("/account/sessions/end-all")[1]
    client.post("/account/sessions/end-all", data={"csrf_token": csrf_token(form)})
    wait_for(lambda: len(receiver.requests) == 1)


def test_discovery_announces_back_channel_logout_with_sessions(client):
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
