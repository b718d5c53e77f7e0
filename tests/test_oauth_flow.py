"""The authorization code flow end to end through the test client."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet

from conftest import CITIZEN_NID
from oauth_helpers import authorize_url, code_grant, follow_to_code, pkce_pair


def test_code_flow_with_pkce_issues_tokens_and_userinfo(app, client, citizen, register_client):
    rp, secret = register_client(scopes=["openid", "profile", "nid"])
    verifier, challenge = pkce_pair()
    params = follow_to_code(
        client,
        authorize_url(rp.client_id, "openid profile nid", challenge, nonce="n-1"),
        CITIZEN_NID,
    )
    assert params["iss"] == app.config["ISSUER"]
    token = client.post(
        "/token", data=code_grant(params["code"], verifier), auth=(rp.client_id, secret)
    )
    assert token.status_code == 200, token.get_json()
    body = token.get_json()
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    id_token = jwt.decode(body["id_token"], keys)
    assert id_token.claims["nonce"] == "n-1"
    assert id_token.claims["aud"] == rp.client_id
    assert id_token.claims["sub"] != CITIZEN_NID
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200, info.get_data()
    assert info.get_json() == {
        "sub": id_token.claims["sub"],
        "given_name": "Arta",
        "family_name": "Demo",
        "birthdate": "1990-01-01",
        "nid": CITIZEN_NID,
    }
