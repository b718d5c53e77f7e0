"""Forgotten password: identifier, security question, one-time code, new password."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("recovery", __name__, url_prefix="/recovery")
