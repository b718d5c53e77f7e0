"""The e-service catalogue (config/catalogue.toml): categories, services, who sees which, search.

Loaded and checked once at start-up; a malformed entry stops the portal with its id, the way the
provider's configuration does. Accounts see what is meant for them: a business (NIPT) sees the
business services, a citizen (NID) the citizens' ones, both see those for "both"; a visitor who
has not signed in browses everything.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..common.settings import ConfigError

CITIZEN = "citizen"
BUSINESS = "business"
BOTH = "both"
AUDIENCES = (CITIZEN, BUSINESS, BOTH)
# What `url` may contain in place of the agency app's base URL (the AGENCY_URL setting).
AGENCY_PLACEHOLDER = "{agency}"
# Portal codes are numbers; other services have a slug. Either way it is safe in a URL path.
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_KEY = re.compile(r"^[a-z0-9_]+$")


class CatalogueError(ConfigError):
    """The catalogue file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Category:
    key: str
    name_sq: str
    name_en: str

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_sq


@dataclass(frozen=True)
class Service:
    id: str
    name_sq: str
    name_en: str
    category: str
    agency: str
    audience: str
    url: str | None = None

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_sq

    @property
    def portal_code(self) -> str | None:
        """e-Albania's own code for the service, when its id is one."""
        return self.id if self.id.isdigit() else None

    def is_for(self, audience: str | None) -> bool:
        """Whether an account of this kind may use it (None: not signed in, sees everything)."""
        return audience is None or self.audience in (BOTH, audience)


def fold(text: str) -> str:
    """Text as search compares it: without diacritics (ë -> e, ç -> c) and case-folded."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(bare.casefold().split())


class Catalogue:
    def __init__(self, categories: list[Category], services: list[Service]):
        self.categories = categories
        self.services = services
        self._by_id = {service.id: service for service in services}
        self._by_key = {category.key: category for category in categories}
        # Both names of each service, folded once rather than on every search.
        self._haystacks = {s.id: f"{fold(s.name_sq)} | {fold(s.name_en)}" for s in services}

    def service(self, service_id: str) -> Service | None:
        return self._by_id.get(service_id)

    def category(self, key: str) -> Category | None:
        return self._by_key.get(key)

    def visible(self, audience: str | None) -> list[Service]:
        return [service for service in self.services if service.is_for(audience)]

    def in_category(self, key: str, audience: str | None) -> list[Service]:
        return [service for service in self.visible(audience) if service.category == key]

    def search(self, query: str, audience: str | None) -> list[Service]:
        """Services whose Albanian or English name contains every word of the query,
        regardless of case and diacritics ("deshmia" finds "Dëshmia e Penalitetit")."""
        words = fold(query).split()
        if not words:
            return []
        return [
            service
            for service in self.visible(audience)
            if all(word in self._haystacks[service.id] for word in words)
        ]


def load(path: Path, agency_url: str) -> Catalogue:
    """Read and check the catalogue; `{agency}` in a url becomes agency_url."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{path} is not a readable TOML catalogue: {exc}") from None
    categories = [_category(entry) for entry in data.get("categories", [])]
    keys = [category.key for category in categories]
    _require_unique(keys, "category key")
    services = [_service(entry, set(keys), agency_url) for entry in data.get("services", [])]
    _require_unique([service.id for service in services], "service id")
    empty = [key for key in keys if not any(s.category == key for s in services)]
    if not categories or empty:
        raise CatalogueError(f"{path}: categories without services: {empty or 'all'}")
    return Catalogue(categories, services)


def _text(entry: dict, field: str, where: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: `{field}` must be a non-empty string")
    return value.strip()


def _category(entry: dict) -> Category:
    key = _text(entry, "key", "a category")
    if not _KEY.match(key):
        raise CatalogueError(f"category {key!r}: the key must be lower-case ASCII")
    where = f"category {key!r}"
    return Category(key, _text(entry, "name_sq", where), _text(entry, "name_en", where))


def _service(entry: dict, categories: set[str], agency_url: str) -> Service:
    service_id = _text(entry, "id", "a service")
    where = f"service {service_id!r}"
    if not _ID.match(service_id):
        raise CatalogueError(f"{where}: the id must be a portal code or a lower-case slug")
    category = _text(entry, "category", where)
    if category not in categories:
        raise CatalogueError(f"{where}: unknown category {category!r}")
    audience = _text(entry, "audience", where)
    if audience not in AUDIENCES:
        raise CatalogueError(f"{where}: audience must be one of {', '.join(AUDIENCES)}")
    url = entry.get("url")
    if url is not None:
        url = _text(entry, "url", where).replace(AGENCY_PLACEHOLDER, agency_url)
        if not url.startswith(("https://", "http://")):
            raise CatalogueError(
                f"{where}: url must be absolute http(s) (or start with {{agency}})"
            )
    return Service(
        id=service_id,
        name_sq=_text(entry, "name_sq", where),
        name_en=_text(entry, "name_en", where),
        category=category,
        agency=_text(entry, "agency", where),
        audience=audience,
        url=url,
    )


def _require_unique(values: Iterable[str], what: str) -> None:
    repeated = sorted(value for value, count in Counter(values).items() if count > 1)
    if repeated:
        raise CatalogueError(f"repeated {what}: {', '.join(repeated)}")
