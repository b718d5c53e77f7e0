"""Issued documents, kept so that the person can download them again during the sign-in.

The sealed PDF is stored under STATE_DIR/agency-documents/ with a random name; the session
cookie lists the names that belong to it, and only those are served. Files hold personal data,
so they are readable by the owner only, removed at sign-out and, at the latest, after a day.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import time
from pathlib import Path

from flask import Flask

FOLDER = "agency-documents"
# Seconds a document is kept: longer than any sign-in at the provider.
KEEP = 86400
DOCUMENT_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


class DocumentStore:
    def __init__(self, folder: Path, keep: int = KEEP):
        self.folder = folder
        self.keep = keep
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)

    def save(self, pdf: bytes) -> str:
        """Store a document; returns its id (unguessable, safe as a file name)."""
        self.remove_expired()
        document_id = secrets.token_urlsafe(16)
        descriptor, temporary = tempfile.mkstemp(dir=self.folder, prefix=".")
        with os.fdopen(descriptor, "wb") as file:  # mkstemp: mode 0600
            file.write(pdf)
        os.replace(temporary, self._path(document_id))
        return document_id

    def load(self, document_id: str) -> bytes | None:
        path = self._path(document_id)
        if path is None or not path.exists() or self._expired(path):
            return None
        return path.read_bytes()

    def delete(self, document_id: str) -> None:
        path = self._path(document_id)
        if path is not None:
            path.unlink(missing_ok=True)

    def remove_expired(self) -> None:
        for path in self.folder.glob("*.pdf"):
            if self._expired(path):
                path.unlink(missing_ok=True)

    def _expired(self, path: Path) -> bool:
        try:
            return path.stat().st_mtime < time.time() - self.keep
        except FileNotFoundError:
            return True

    def _path(self, document_id: str) -> Path | None:
        # Only ids of the form we make: nothing from a request can name another file.
        if not DOCUMENT_ID.match(document_id):
            return None
        return self.folder / f"{document_id}.pdf"


def init_app(app: Flask) -> DocumentStore:
    store = DocumentStore(Path(app.config["STATE_DIR"]) / FOLDER)
    app.extensions["agency.documents"] = store
    return store
