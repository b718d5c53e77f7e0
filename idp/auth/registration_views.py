"""Registration of citizens and businesses, with phone and e-mail confirmed by code."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("registration", __name__, url_prefix="/register")
