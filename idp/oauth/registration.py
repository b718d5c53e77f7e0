"""Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("client_registration", __name__)
