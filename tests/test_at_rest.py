"""What the provider leaves on disk is private to its own user, whatever the umask."""

from __future__ import annotations

import os
import stat

import requests
from flask_migrate import upgrade

from idp import create_app
from idp.models import db

from conftest import TEST_SETTINGS, LiveServer, free_port
from oauth_helpers import csrf_token


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_sqlite_database_wal_and_journal_are_0600_in_a_0700_instance_folder(tmp_path, keys_dir):
    instance = tmp_path / "instance"
    port = free_port()
    previous_umask = os.umask(0o022)  # the usual umask: files 0644, folders 0755
    try:
        app = create_app(
            {
                **TEST_SETTINGS,
                "KEYS_DIR": str(keys_dir),
                "INSTANCE_PATH": str(instance),
                "ISSUER": f"http://127.0.0.1:{port}",
            }
        )
        with app.app_context():
            upgrade()
            db.engine.dispose()
        server = LiveServer(app, port).start()
        try:
            # A failed sign-in writes the audit log and the short-lived store.
            browser = requests.Session()
            page = browser.get(server.url + "/login", timeout=10)
            form = {
                "csrf_token": csrf_token(page.text),
                "nid": "J00101999W",
                "password": "not the password",
            }
            assert browser.post(server.url + "/login", data=form, timeout=10).status_code == 400
            files = sorted(p.name for p in instance.iterdir() if p.name.startswith("idp.sqlite3"))
            assert {"idp.sqlite3", "idp.sqlite3-wal", "idp.sqlite3-shm"} <= set(files)
            assert mode(instance) == 0o700
            for name in files:
                assert mode(instance / name) == 0o600, name
        finally:
            server.stop()
    finally:
        os.umask(previous_umask)


def test_an_existing_instance_folder_and_database_are_tightened(tmp_path, keys_dir):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    (instance / "idp.sqlite3").touch(mode=0o644)
    (instance / "idp.sqlite3-wal").touch(mode=0o644)
    instance.chmod(0o755)
    (instance / "idp.sqlite3").chmod(0o644)
    (instance / "idp.sqlite3-wal").chmod(0o644)
    create_app({**TEST_SETTINGS, "KEYS_DIR": str(keys_dir), "INSTANCE_PATH": str(instance)})
    assert mode(instance) == 0o700
    assert mode(instance / "idp.sqlite3") == 0o600
    assert mode(instance / "idp.sqlite3-wal") == 0o600
