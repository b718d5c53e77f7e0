"""RFC 8707 resource indicators: which resource server an access token is for (its `aud`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2.base import OAuth2Error

from ..models import Client


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown or not allowed for this client."""

    error = "invalid_target"


def requested_resources(request, client: Client) -> list[str]:
    """The `resource` values of the request, each registered for the client; else the error."""
    values = request.payload.datalist.get("resource", [])
    for value in values:
        parts = urlsplit(value)
        # RFC 8707 §2: an absolute URI without a fragment.
        if not parts.scheme or not parts.netloc or parts.fragment:
            raise InvalidTargetError("resource must be an absolute URI without a fragment")
        if value not in client.resources:
            raise InvalidTargetError("the client is not registered for this resource")
    return list(dict.fromkeys(values))
