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
        "--phone",
        "+355690000001",
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
        "--email",
        "info@example.org",
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


# -- users unlock --------------------------------------------------------------------------------


def _audited(app, event: str) -> list:
    from idp.models import AuditEvent, db

    with app.app_context():
        return db.session.execute(db.select(AuditEvent).where(AuditEvent.event == event)).all()


def test_unlocking_an_account_that_does_not_exist_fails_and_audits_nothing(app):
    result = _run(app, "users", "unlock", "J00101111A")
    assert result.exit_code != 0
    assert "no citizen account J00101111A" in result.output
    assert "unlocked" not in result.output
    assert _audited(app, "account.unlocked") == []


def test_unlocking_an_existing_account_is_audited(app, citizen):
    result = _run(app, "users", "unlock", citizen.identifier.lower())
    assert result.exit_code == 0, result.output
    assert f"citizen {citizen.identifier}" in result.output
    assert len(_audited(app, "account.unlocked")) == 1


def test_unlock_refuses_an_identifier_that_is_neither_a_nid_nor_a_nipt(app):
    result = _run(app, "users", "unlock", "J0010111")
    assert result.exit_code != 0
    assert "J0010111 is neither a valid NID nor a valid NIPT" in result.output
    assert _audited(app, "account.unlocked") == []


# -- users create --------------------------------------------------------------------------------


def test_a_taken_identifier_is_refused_before_the_password_is_asked_for(app, citizen):
    result = _run(
        app, "users", "create", "--identifier", citizen.identifier, "--email", "a@example.org"
    )
    assert result.exit_code != 0
    assert f"a citizen account {citizen.identifier} already exists" in result.output
    assert "Password" not in result.output


def test_an_invalid_identifier_is_refused_before_the_password_is_asked_for(app):
    result = _run(app, "users", "create", "--identifier", "J00231001A", "--email", "a@example.org")
    assert result.exit_code != 0
    assert "not a valid NID" in result.output
    assert "Password" not in result.output


def test_an_account_that_could_never_receive_a_code_is_refused(app):
    result = _run(app, "users", "create", "--identifier", "J00101111A")
    assert result.exit_code != 0
    assert "needs a phone or an e-mail address" in result.output
    assert "Password" not in result.output
    assert _audited(app, "account.created") == []


# -- clients ------------------------------------------------------------------------------------


def test_generated_client_ids_never_start_with_a_dash():
    from idp import security

    client_ids = [security.generate_client_id() for _ in range(5000)]
    assert not [client_id for client_id in client_ids if client_id.startswith("-")]
    assert len(set(client_ids)) == len(client_ids)
    assert min(len(client_id) for client_id in client_ids) >= 22


def test_a_generated_client_id_can_be_disabled_as_written(app):
    created = _run(
        app, "clients", "create", "--name", "Agency", "--redirect-uri", "https://a.example/cb"
    )
    assert created.exit_code == 0, created.output
    client_id = created.output.split()[1]
    result = _run(app, "clients", "disable", client_id)
    assert result.exit_code == 0, result.output
    assert f"{client_id} disabled" in result.output


# -- audit list ---------------------------------------------------------------------------------

AUDIT_COLUMNS = ["AT", "EVENT", "OUTCOME", "ACCOUNT", "CLIENT", "IP", "KEY"]


def test_audit_list_has_a_header_and_aligned_columns_whatever_the_client_id(
    make_app, register_client, tmp_path
):
    app = make_app(KEYS_DIR=str(tmp_path / "own-keys"))
    long_id = "agency-" + "x" * 57
    with app.app_context():
        from idp.cli import create_client

        create_client(name="Agency", client_id=long_id, redirect_uris=["https://a.example/cb"])
    assert _run(app, "clients", "disable", long_id).exit_code == 0
    header, *rows = _run(app, "audit", "list").output.splitlines()
    assert header.split() == AUDIT_COLUMNS
    starts = [header.index(name) for name in AUDIT_COLUMNS]
    assert len(rows) == 2
    for row in rows:
        for start in starts[1:]:
            assert row[start - 1] == " " and row[start] != " ", (header, row)
    # Too long for the column: shortened, visibly.
    assert long_id not in rows[0]
    assert "agency-xxx" in rows[0] and "…" in rows[0]


def test_audit_list_shows_the_key_and_algorithm_of_key_events(make_app, tmp_path):
    app = make_app(KEYS_DIR=str(tmp_path / "own-keys"))
    assert _run(app, "keys", "rotate", "--alg", "ES256").exit_code == 0
    [upcoming] = [k for k in app.extensions["idp.keystore"].all_keys() if k.state == "next"]
    header, row = _run(app, "audit", "list", "--event", "key.").output.splitlines()
    assert row.split()[1] == "key.created"
    assert row[header.index("KEY") :].split() == [upcoming.kid, "ES256"]


# -- help ---------------------------------------------------------------------------------------


def test_help_creates_no_key_no_database_and_nothing_in_the_instance_folder(tmp_path):
    keys_dir, instance = tmp_path / "keys", tmp_path / "instance"
    keys_dir.mkdir()
    instance.mkdir()
    environment = {name: value for name, value in os.environ.items() if "IDP_" not in name}
    environment.update(IDP_KEYS_DIR=str(keys_dir), IDP_INSTANCE_PATH=str(instance))
    idp_command = Path(sys.executable).with_name("idp")
    for args in (
        [],
        ["--help"],
        ["users", "--help"],
        ["users", "create", "--help"],
        ["keys", "rotate", "--help"],
        ["db", "upgrade", "--help"],
    ):
        result = subprocess.run(
            [str(idp_command), *args], env=environment, capture_output=True, text=True, timeout=60
        )
        # Without arguments, Click prints the help to stderr.
        assert (result.stdout or result.stderr).startswith("Usage: idp"), (args, result.stderr)
        assert list(keys_dir.iterdir()) == [], args
        assert list(instance.iterdir()) == [], args
    # Help still lists every command.
    listed = subprocess.run(
        [str(idp_command), "--help"], env=environment, capture_output=True, text=True, timeout=60
    ).stdout
    for command in ("users", "clients", "audit", "keys", "demo", "db", "run"):
        assert f"  {command} " in listed, command
