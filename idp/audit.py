"""The audit log: who did what, from where, with what outcome. Never secrets."""

from __future__ import annotations

from flask import has_request_context, request

from .models import AuditEvent, db


def record(
    event: str,
    outcome: str,
    account: str | None = None,
    client_id: str | None = None,
    **detail,
) -> None:
    """Add one event to the current transaction and commit it."""
    ip = user_agent = None
    if has_request_context():
        # remote_addr is already the client's address when behind trusted proxies (ProxyFix).
        ip = request.remote_addr
        user_agent = (request.user_agent.string or "")[:300] or None
    db.session.add(
        AuditEvent(
            event=event,
            outcome=outcome,
            account=account,
            client_id=client_id,
            ip=ip,
            user_agent=user_agent,
            detail=detail,
        )
    )
    db.session.commit()
