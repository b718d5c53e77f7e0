"""/favicon.ico for the relying parties: browsers ask for it on every site, unprompted."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, send_file

ICON = Path(__file__).parent / "static" / "favicon.ico"


def init_app(app: Flask) -> None:
    def favicon() -> Response:
        return send_file(ICON, mimetype="image/vnd.microsoft.icon", max_age=86400)

    app.add_url_rule("/favicon.ico", "favicon", favicon)
