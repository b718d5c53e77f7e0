"""The signed-in person as the portal knows them: the userinfo kept in the session at sign-in."""

from __future__ import annotations

from flask import session

from .catalogue import BUSINESS, CITIZEN


def userinfo() -> dict | None:
    return session.get("userinfo")


def kind() -> str | None:
    """The account's kind: BUSINESS when userinfo names a business (the `business` scope gives
    nipt and business_name), CITIZEN for anyone else signed in, None when nobody is."""
    info = userinfo()
    if info is None:
        return None
    return BUSINESS if info.get("nipt") or info.get("business_name") else CITIZEN


def display_name(info: dict | None = None) -> str | None:
    """What the greeting calls them: a citizen's first name, a business's name."""
    info = userinfo() if info is None else info
    if not info:
        return None
    return info.get("given_name") or info.get("business_name") or info["sub"]
