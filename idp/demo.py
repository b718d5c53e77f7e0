"""Demo data for a development machine: accounts and the portal client, generated at first run.

Nothing here is real: the identifiers are well-formed but invented, the password is random per
machine and kept only under instance/.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from . import security
from .models import BUSINESS, CITIZEN, Client, User, db

DEMO_ACCOUNTS = [
    {
        "kind": CITIZEN,
        "identifier": "J00101999W",
        "given_name": "Arta",
        "family_name": "Demo",
        "email": "arta.demo@example.org",
        "phone": "+355690000001",
        "security_question": "first_school",
        "security_answer": "Naim Frashëri",
    },
    {
        "kind": BUSINESS,
        "identifier": "K22218003V",
        "business_name": "Demo Shpk",
        "email": "info@demo-shpk.example.org",
        "phone": "+355690000002",
        "security_question": "first_street",
        "security_answer": "Rruga e Durrësit",
    },
    {
        "kind": CITIZEN,
        "identifier": "J05601999A",
        "given_name": "Besa",
        "family_name": "Jashtë",
        "email": "besa.jashte@example.org",
        "phone": "+393330000003",
        "security_question": "favourite_dish",
        "security_answer": "Tavë kosi",
    },
]
PORTAL_CLIENT_ID = "portal"


def seed(portal_url: str) -> dict:
    """Create what is missing; return accounts, password and the portal client's credentials."""
    from .cli import create_client, create_user

    state_file = Path(current_app.instance_path) / "demo-password"
    if not state_file.exists():
        state_file.write_text(security.generate_secret(9))
        state_file.chmod(0o600)
    password = state_file.read_text().strip()
    for account in DEMO_ACCOUNTS:
        exists = db.session.execute(
            select(User).where(
                User.kind == account["kind"], User.identifier == account["identifier"]
            )
        ).scalar()
        if exists is None:
            create_user(password=password, **account)
    client = db.session.execute(select(Client).where(Client.client_id == PORTAL_CLIENT_ID)).scalar()
    secret = security.generate_secret()
    if client is None:
        client, secret = create_client(
            name="e-Albania",
            client_id=PORTAL_CLIENT_ID,
            redirect_uris=[f"{portal_url}/callback"],
            post_logout_redirect_uris=[f"{portal_url}/"],
            scopes=["openid", "profile", "email", "phone", "nid", "business"],
            first_party=True,
        )
    else:
        # The secret is stored only as a digest: a new one is issued for this run.
        client.client_secret_hash = security.digest(secret)
        db.session.commit()
    portal = {
        "issuer": current_app.config["ISSUER"],
        "client_id": PORTAL_CLIENT_ID,
        "client_secret": secret,
    }
    portal_file = Path(current_app.instance_path) / "portal-client.json"
    portal_file.write_text(json.dumps(portal, indent=2))
    portal_file.chmod(0o600)
    return {
        "password": password,
        "accounts": [
            {
                "kind": a["kind"],
                "identifier": a["identifier"],
                "name": a.get("business_name") or f"{a['given_name']} {a['family_name']}",
                "security_answer": a["security_answer"],
            }
            for a in DEMO_ACCOUNTS
        ],
        "portal_client": str(portal_file),
    }
