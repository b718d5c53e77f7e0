"""The same provider on PostgreSQL (IDP_DATABASE_URL): migrations and a whole flow.

Needs a PostgreSQL server (127.0.0.1:5432, trust auth, or IDP_TEST_POSTGRES_URL); without one the
test is skipped with the reason. CI runs it.
"""

from __future__ import annotations

from flask_migrate import upgrade
from test_migrations import schema_differences

from idp import create_app
from idp.auth.account_views import recent_sign_ins
from idp.models import User, db

from conftest import TEST_SETTINGS
from oauth_helpers import code_grant, new_sign_in


def test_migrations_and_code_flow_on_postgresql(postgres_url, keys_dir, tmp_path):
    app = create_app(
        {
            **TEST_SETTINGS,
            "DATABASE_URL": postgres_url,
            "KEYS_DIR": str(keys_dir),
            "INSTANCE_PATH": str(tmp_path),
        }
    )
    with app.app_context():
        upgrade()
    assert schema_differences(app) == []
    client_id, secret, code, verifier = new_sign_in(app)
    browser = app.test_client()
    token = browser.post("/token", data=code_grant(code, verifier), auth=(client_id, secret))
    assert token.status_code == 200, token.get_json()
    replay = browser.post("/token", data=code_grant(code, verifier), auth=(client_id, secret))
    assert replay.get_json()["error"] == "invalid_grant"
    with app.app_context():
        # JSON paths in SQL (the account page's sign-in list) work on PostgreSQL too.
        user = db.session.execute(db.select(User)).scalar()
        assert [event["succeeded"] for event in recent_sign_ins(user)] == [True]
    with app.app_context():
        db.engine.dispose()
