"""The repository stands on its own: every document the code and docs cite is in it."""

from __future__ import annotations

import re
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
SOURCES = ("idp", "clients", "keys", "config", "tests", "docs")
# A path ending in .md, as code comments and documents cite them.
CITED = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.md)\b")


def _citations() -> set[tuple[str, str]]:
    found = set()
    files = [CHECKOUT / "README.md", CHECKOUT / "dev.py"]
    for folder in SOURCES:
        files += [p for p in (CHECKOUT / folder).rglob("*") if p.suffix in (".py", ".md", ".toml")]
    for path in files:
        for cited in CITED.findall(path.read_text(encoding="utf-8")):
            found.add((str(path.relative_to(CHECKOUT)), cited))
    return found


def test_every_cited_document_is_in_the_repository():
    citations = _citations()
    assert ("idp/auth/identifiers.py", "docs/domain.md") in citations
    missing = [
        f"{source} cites {cited}"
        for source, cited in sorted(citations)
        if not (CHECKOUT / cited).exists() and not (CHECKOUT / "docs" / cited).exists()
    ]
    assert not missing
