"""Operator commands, run the way operators run them (Flask's CLI runner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import PASSWORD
from oauth_helpers import authorize_url, pkce_pair


def _run(app, *args, input=None):
    result = app.test_cli_runner().invoke(args=list(args), input=input)
    return result


def test_create_citizen_and_business_then_list_audit(app):
    result = _run(
        app,
        "users",
        "create",
        "--identifier",
        "j00101999w",
        "--given-name",
        "Arta",
        "--family-name",
        "Demo",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "citizen J00101999W" in result.output
    result = _run(
        app,
        "users",
        "create",
        "--kind",
        "business",
        "--identifier",
        "K22218003V",
        "--business-name",
        "Demo Shpk",
        "--password",
        PASSWORD,
    )
    assert result.exit_code == 0, result.output
    audit = _run(app, "audit", "list", "--json")
    events = [json.loads(line) for line in audit.output.splitlines()]
    assert {e["account"] for e in events if e["event"] == "account.created"} == {
        "J00101999W",
        "K22218003V",
    }
    assert PASSWORD not in audit.output


def test_invalid_identifiers_are_refused(app):
    result = _run(app, "users", "create", "--identifier", "J00231001A", "--password", "x")
    assert result.exit_code != 0
    assert "not a valid NID" in result.output


def test_client_secret_is_printed_once_and_stored_hashed(app):
    result = _run(
        app,
        "clients",
        "create",
        "--name",
        "Agency",
        "--redirect-uri",
        "https://agency.example.gov.al/cb",
        "--scope",
        "openid",
        "--json",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    from idp.models import Client, db

    with app.app_context():
        stored = db.session.execute(db.select(Client)).scalar()
    assert created["client_secret"] not in (stored.client_secret_hash or "")
    assert stored.check_client_secret(created["client_secret"])
    listing = _run(app, "clients", "list")
    assert created["client_id"] in listing.output
    assert created["client_secret"] not in listing.output


def test_http_redirect_uris_are_refused_outside_loopback(app):
    result = _run(
        app,
        "clients",
        "create",
        "--name",
        "Agency",
        "--redirect-uri",
        "http://agency.example.gov.al/cb",
    )
    assert result.exit_code != 0
    assert "https" in result.output


def test_disabled_client_cannot_sign_anyone_in(app, client, register_client):
    rp, _ = register_client()
    result = _run(app, "clients", "disable", rp.client_id)
    assert result.exit_code == 0, result.output
    _, challenge = pkce_pair()
    response = client.get(authorize_url(rp.client_id, challenge=challenge))
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_the_idp_command_names_a_wrong_setting_without_a_traceback(tmp_path):
    idp_command = Path(sys.executable).with_name("idp")
    environment = {
        **os.environ,
        "IDP_ENV": "production",
        "IDP_SECRET_KEY": "short",
        "IDP_INSTANCE_PATH": str(tmp_path),
    }
    result = subprocess.run(
        [str(idp_command), "db", "current"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "IDP_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_data_is_created_once_and_its_clients_follow_the_urls(app):
    first = _run(app, "demo")
    assert first.exit_code == 0, first.output
    again = _run(app, "demo", "--portal-url", "http://127.0.0.1:6001")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.output)
    assert [a["identifier"] for a in summary["accounts"]] == [
        "J00101999W",
        "K22218003V",
        "J05601999A",
    ]
    credentials = json.loads(Path(summary["portal_client"]).read_text())
    from idp.models import Client, User, db

    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(User)).scalar() == 3
        portal = db.session.execute(db.select(Client).where(Client.client_id == "portal")).scalar()
        assert portal.redirect_uris == ["http://127.0.0.1:6001/callback"]
        assert portal.check_client_secret(credentials["client_secret"])
