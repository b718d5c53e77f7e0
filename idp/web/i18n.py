"""Which language a page is shown in: Albanian unless the person or the relying party asks."""

from __future__ import annotations

from flask import current_app, g, request

LANGUAGE_COOKIE = "idp_lang"


def select_locale() -> str:
    supported = current_app.config["LOCALES"]
    # 1. an explicit choice on the page (?lang=en), remembered in a cookie by pages.after_request
    choice = request.args.get("lang")
    if choice in supported:
        g.language_choice = choice
        return choice
    # 2. the earlier choice of this browser
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    if cookie in supported:
        return cookie
    # 3. ui_locales of the authorization request (OIDC Core §3.1.2.1), first supported wins
    for tag in g.get("ui_locales", "").split():
        language = tag.split("-")[0].lower()
        if language in supported:
            return language
    return supported[0]
