"""The catalogue's pages: home with the category tiles, e-services, a category, search, a
service, information and help. Anyone may browse; opening a service needs a sign-in.

Paths are Albanian, like the portal's: /sherbime (e-services), /kategori/<key>, /kerko (search),
/sherbime/<id>, /informacion, /ndihme.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from ..common import provider
from . import account, i18n
from .catalogue import Catalogue, Service

bp = Blueprint("pages", __name__)

# How many services a category's tile on the home page lists before "Të tjera...".
TILE_SIZE = 3
# e-Albania's public description of a service, by its portal code.
DESCRIPTION_URL = "https://e-albania.al/eAlbaniaServices/UseService.aspx?service_code={code}"


def catalogue() -> Catalogue:
    return current_app.extensions["portal.catalogue"]


@bp.app_context_processor
def page_context() -> dict:
    """What every page's header needs: who is signed in, as what, in which language."""
    return {
        "userinfo": account.userinfo(),
        "account_kind": account.kind(),
        "display_name": account.display_name(),
        "lang": i18n.language(),
        "issuer": current_app.config["ISSUER"],
    }


@bp.get("/")
def home():
    signed_out = "state" in request.args and provider.logout_state_is_ours()
    audience = account.kind()
    tiles = [
        (category, services[:TILE_SIZE])
        for category in catalogue().categories
        if (services := catalogue().in_category(category.key, audience))
    ]
    return render_template("home.html", tiles=tiles, signed_out=signed_out, active="home")


@bp.get("/sherbime")
def eservices():
    audience = account.kind()
    sections = [
        (category, catalogue().in_category(category.key, audience))
        for category in catalogue().categories
    ]
    return render_template("eservices.html", sections=sections, active="eservices")


@bp.get("/kategori/<key>")
def category(key: str):
    found = catalogue().category(key) or abort(404)
    services = catalogue().in_category(key, account.kind())
    return render_template("category.html", category=found, services=services, active="eservices")


@bp.get("/kerko")
def search():
    query = request.args.get("q", "").strip()[:100]
    results = catalogue().search(query, account.kind()) if query else []
    return render_template("search.html", query=query, results=results, active="eservices")


@bp.get("/sherbime/<service_id>")
def service(service_id: str):
    found = catalogue().service(service_id) or abort(404)
    if account.userinfo() is None:
        # Back here after the sign-in: the login view keeps this path in the session.
        return redirect(url_for("portal.login", next=request.path))
    allowed = found.is_for(account.kind())
    page = render_template(
        "service.html",
        service=found,
        category=catalogue().category(found.category),
        allowed=allowed,
        description_url=_description_url(found),
        active="eservices",
    )
    return page, 200 if allowed else 403


@bp.get("/informacion")
def information():
    by_agency: dict[str, list[Service]] = {}
    for entry in catalogue().services:
        by_agency.setdefault(entry.agency, []).append(entry)
    return render_template("information.html", agencies=sorted(by_agency.items()), active="info")


@bp.get("/ndihme")
def help_page():
    return render_template("help.html", active="help")


@bp.app_errorhandler(404)
def not_found(error):
    return render_template("not_found.html"), 404


def _description_url(service: Service) -> str | None:
    code = service.portal_code
    return DESCRIPTION_URL.format(code=code) if code else None
