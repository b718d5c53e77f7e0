"""Translations stay complete and compiled: every string marked in the source has an Albanian
translation, the committed .mo files match their .po sources, and pages come out in the language
asked for. How to update the catalogs: idp/web/translations/README.md."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parents[1]
TRANSLATIONS = REPO / "idp" / "web" / "translations"
LANGUAGES = sorted(p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))
# As `pybabel extract -k _l` in the README: Babel's defaults plus the lazy_gettext alias.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}
# Every %-conversion ("%(site)s", "%%") and any lone "%": Jinja applies `%` to every translated
# string, so a translation must carry exactly the placeholders of its msgid.
PERCENT = re.compile(r"%%|%(?:\(\w+\))?[a-z]?")


def load_po(language: str) -> Catalog:
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def translations(catalog: Catalog) -> dict:
    """What a compiled catalog answers at run time: translations by (msgid, context)."""
    return {
        "plural_forms": catalog.plural_forms,
        "messages": {(m.id, m.context): m.string for m in catalog if m.id},
    }


def extract_from_source():
    """What `pybabel extract -F babel.cfg -k _l .` finds, as (file, line, msgids, context)."""
    with (REPO / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")
    for filename, lineno, message, _comments, context in extract_from_dir(
        REPO, method_map, options_map, keywords=KEYWORDS
    ):
        msgids = (message,) if isinstance(message, str) else tuple(m for m in message if m)
        yield filename, lineno, msgids, context


def placeholders(text: str) -> set[str]:
    return set(PERCENT.findall(text))


def test_there_are_albanian_and_english_catalogs():
    assert {"sq", "en"} <= set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_committed_mo_matches_its_po(language):
    """Compiling the .po now gives what is committed: nobody forgot `pybabel compile`.

    Compared as parsed catalogs, not bytes: the .mo header names the Babel version that wrote it.
    """
    compiled = BytesIO()
    write_mo(compiled, load_po(language))
    compiled.seek(0)
    committed = (TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo").read_bytes()

    assert translations(read_mo(BytesIO(committed))) == translations(read_mo(compiled)), (
        f"{language}/messages.mo is stale: run `pybabel compile -d idp/web/translations`"
    )


def test_source_strings_are_found():
    """Guards the next test: a wrong babel.cfg pattern would find nothing and pass vacuously."""
    found = {filename for filename, *_ in extract_from_source()}
    assert {"idp/auth/forms.py", "idp/web/templates/login.html"} <= found


def test_every_marked_string_has_an_albanian_translation():
    albanian = load_po("sq")
    problems = []
    for filename, lineno, msgids, context in extract_from_source():
        where = f"{filename}:{lineno} {msgids[0]!r}"
        message = albanian.get(msgids[0], context=context)
        if message is None:
            problems.append(f"{where}: missing from sq/messages.po (extract and update)")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"{where}: translation is marked fuzzy (check it, remove the flag)")
        elif not all(strings):
            problems.append(f"{where}: no Albanian translation")
        elif any(placeholders(s) != placeholders(msgids[0]) for s in strings):
            problems.append(f"{where}: placeholders differ in {strings!r}")
    assert not problems, "\n".join(problems)


def test_login_page_is_albanian_by_default(client):
    page = client.get("/login").get_data(as_text=True)

    assert '<html lang="sq">' in page
    assert "Identifikimi në llogarinë personale" in page
    assert "Vendosni kodin e përdoruesit NID / NIPT" in page  # a lazy form label
    assert "Vazhdoni me identifikimin" in page
    assert "Sign in to your personal account" not in page


def test_login_page_is_english_when_asked(client):
    page = client.get("/login?lang=en").get_data(as_text=True)

    assert '<html lang="en">' in page
    assert "Sign in to your personal account" in page
    assert "Personal number (NID) or NIPT" in page
    assert "Vazhdoni me identifikimin" not in page
