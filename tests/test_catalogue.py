"""The e-service catalogue (config/catalogue.toml): the data the portal's home page is built from,
and the portal's reading of it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from clients.portal import catalogue
from clients.portal.catalogue import CatalogueError, fold

CATALOGUE_FILE = Path(__file__).resolve().parents[1] / "config" / "catalogue.toml"
AGENCY_URL = "http://agency.test"

# The ten categories of today's e-Albania home page, in its order.
CATEGORIES = [
    "Dokumente me vulë elektronike",
    "Pagesa elektronike",
    "Familja",
    "Arsimi",
    "Puna",
    "Shëndetësia dhe mbrojtja sociale",
    "Kontributet dhe pensioni",
    "Gjendja gjyqësore",
    "Biznesi im",
    "Leje dhe licenca",
]
# Services today's portal names on its home page (cut short there: compared as prefixes).
SEED_SERVICES = [
    "Certifikatë personale",
    "Certifikatë familjare",
    "Deklarimi i adresës së shte",
    "Regjistrim në klasë të dhjetë",
    "Regjistrimi në klasë të parë",
    "Transferimi i nxënësve",
    "Aplikim për regjistrim si punëkërkues",
    "Aplikim për Leje Unike / Unique permit",
    "Rezervim për dhurim gjaku",
    "Receta ime elektronike",
    "Certifikatë Vaksinimi, Testimi",
    "Aplikim për pension pleqërie",
    "Vërtetim për pagesën e kontributeve",
    "Kërkesë për shpërblim lindje",
    "Formulari i dekriminalizimit",
    "Dëshmia e Penalitetit",
    "Vërtetim i periudhës",
    "Vërtetim për aktivitet ekonomik",
    "Leje Ndërtimi",
    "Licencë individuale",
]
# Real portal codes (docs/domain.md): these services must carry them as their id.
PORTAL_CODES = {
    "38": "Certifikatë personale",
    "13259": "Dëshmia e Penalitetit",
    "12705": "Vërtetim i pagesës së kontributeve vullnetare",
    "14988": "Vërtetim vjetor përfitimi afatgjatë",
    "6093": "Leje Ndërtimi",
    "9460": "Aplikim për regjistrimin e lejes së ndërtimit",
    "13521": "Aplikim për pajisje me nënshkrim elektronik",
    "9485": "Aplikim për certifikatë lindje",
    "9768": "Aplikim për regjistrim martese",
}


@pytest.fixture(scope="module")
def data() -> dict:
    return tomllib.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(data) -> list[dict]:
    return data["services"]


def test_the_ten_categories_of_the_portal_in_its_order(data):
    assert [category["name_sq"] for category in data["categories"]] == CATEGORIES
    assert all(category["name_en"].strip() for category in data["categories"])
    keys = [category["key"] for category in data["categories"]]
    assert len(set(keys)) == len(keys) == 10


def test_at_least_forty_services_with_unique_ids(services):
    assert len(services) >= 40
    ids = [service["id"] for service in services]
    assert len(set(ids)) == len(ids)


def test_every_service_has_both_names_an_agency_and_a_valid_category_and_audience(data, services):
    keys = {category["key"] for category in data["categories"]}
    for service in services:
        assert service["category"] in keys, service["id"]
        assert service["audience"] in ("citizen", "business", "both"), service["id"]
        for field in ("name_sq", "name_en", "agency"):
            assert isinstance(service[field], str) and service[field].strip(), service["id"]


def test_no_category_is_empty(data, services):
    for category in data["categories"]:
        assert any(s["category"] == category["key"] for s in services), category["key"]


def test_the_services_named_on_todays_home_page_are_present(services):
    names = [service["name_sq"] for service in services]
    missing = [seed for seed in SEED_SERVICES if not any(n.startswith(seed) for n in names)]
    assert missing == []


def test_known_portal_codes_are_the_ids(services):
    by_id = {service["id"]: service for service in services}
    for code, name in PORTAL_CODES.items():
        assert by_id[code]["name_sq"].startswith(name), code


def test_business_services_are_marked(services):
    business = {s["id"] for s in services if s["audience"] in ("business", "both")}
    assert {"13761", "13691", "depozitimi-bilancit-vjetor", "13259"} <= business
    assert any(s["audience"] == "business" for s in services)


def test_the_criminal_record_certificate_opens_in_the_agency_app(services):
    (record,) = [service for service in services if service["id"] == "13259"]
    assert record["url"] == "{agency}/deshmia-e-penalitetit"
    assert record["agency"] == "Ministria e Drejtësisë / Drejtoria e Përgjithshme e Burgjeve"
    loaded = catalogue.load(CATALOGUE_FILE, AGENCY_URL)
    assert loaded.service("13259").url == f"{AGENCY_URL}/deshmia-e-penalitetit"


@pytest.mark.parametrize("query", ["deshmia", "DESHMIA", "dëshmia", "Dëshmia e penalitetit"])
def test_search_ignores_case_and_diacritics(query):
    loaded = catalogue.load(CATALOGUE_FILE, AGENCY_URL)
    assert [service.id for service in loaded.search(query, None)] == ["13259"]


def test_search_covers_the_english_names_and_every_word():
    loaded = catalogue.load(CATALOGUE_FILE, AGENCY_URL)
    assert "13259" in {s.id for s in loaded.search("judicial records", None)}
    assert loaded.search("judicial pension", None) == []


def test_search_shows_each_account_only_its_services():
    loaded = catalogue.load(CATALOGUE_FILE, AGENCY_URL)
    assert {s.id for s in loaded.search("bilancit", None)} == {"depozitimi-bilancit-vjetor"}
    assert loaded.search("bilancit", "citizen") == []
    assert loaded.search("certifikate personale", "business") == []


def test_fold_strips_albanian_diacritics():
    assert fold("Çertifikatë  Gjyqësore") == "certifikate gjyqesore"


def test_a_service_in_an_unknown_category_stops_start_up(tmp_path):
    broken = tmp_path / "catalogue.toml"
    broken.write_text(
        '[[categories]]\nkey = "a"\nname_sq = "A"\nname_en = "A"\n'
        '[[services]]\nid = "1"\nname_sq = "S"\nname_en = "S"\ncategory = "b"\n'
        'agency = "X"\naudience = "citizen"\n',
        encoding="utf-8",
    )
    with pytest.raises(CatalogueError, match="unknown category 'b'"):
        catalogue.load(broken, AGENCY_URL)
