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


def _demo_client(client_id: str, base_url: str, **options) -> Path:
    """Register a demo relying party at base_url (or give it a new secret) and write its
    credentials to instance/<client_id>-client.json for the app to read."""
    from .cli import create_client

    registration = {
        "redirect_uris": [f"{base_url}/callback"],
        "post_logout_redirect_uris": [f"{base_url}/"],
        "backchannel_logout_uri": f"{base_url}/backchannel-logout",
        **options,
    }
    client = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar()
    if client is None:
        client, secret = create_client(client_id=client_id, **registration)
    else:
        # Kept up to date with this run's URLs. The secret is stored only as a digest: a new one
        # is issued for this run.
        for name, value in registration.items():
            setattr(client, name, value)
        secret = security.generate_secret()
        client.client_secret_hash = security.digest(secret)
        db.session.commit()
    path = Path(current_app.instance_path) / f"{client_id}-client.json"
    credentials = {
        "issuer": current_app.config["ISSUER"],
        "client_id": client_id,
        "client_secret": secret,
    }
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
    return path


def seed(portal_url: str, agency_url: str) -> dict:
    """Create what is missing; return the accounts, their password and where the demo clients'
    credentials were written."""
    from .cli import create_user

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
    portal_file = _demo_client(
        "portal",
        portal_url,
        name="e-Albania",
        scopes=["openid", "profile", "email", "phone", "nid", "business"],
        first_party=True,
    )
    # The agency asks only for what its service needs (data minimisation on the consent
    # screen), and for access tokens addressed to its own API.
    _demo_client(
        "agency",
        agency_url,
        name="Drejtoria e Përgjithshme e Burgjeve — Dëshmia e Penalitetit",
        scopes=["openid", "profile", "nid"],
        resources=[f"{agency_url}/api"],
        client_uri=f"{agency_url}/",
        policy_uri=f"{agency_url}/privatesia",
        tos_uri=f"{agency_url}/kushtet",
    )
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
        "agency_client": str(Path(current_app.instance_path) / "agency-client.json"),
    }
