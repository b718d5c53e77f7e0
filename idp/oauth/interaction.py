"""The pending authorization request between the protocol and the person: one owner, few verbs.

The shape of ORY Hydra's login/consent manager and node-oidc-provider's Interaction model: the
authorization endpoint creates an interaction, the login and consent pages accept or reject it,
and nothing else edits it. It waits in the short-lived store under a random challenge, so its
parameters cannot be altered on the way.

An interaction belongs to one browser and, once someone signs in, to one person (issue 12):
- the browser: it gets a random secret in a cookie of its own; the interaction keeps only a
  SHA-256 digest of it, compared in constant time at every step;
- the person: another person signing in in that browser starts the request over.
A continuation opened anywhere else starts over too: a fresh interaction with the same
parameters, as if the client had sent that person to /authorize (which it always could).

Consent is never a mark on the interaction. It is recorded for the person who gave it (the
Consent table), so the consent of one person can never answer for another.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from flask import Response, current_app, g, request
from sqlalchemy import select

from .. import audit, security
from ..models import Client, Consent, User, db, now

if TYPE_CHECKING:
    from ..auth.sessions import Session

KEY = "interaction:{}"
# Challenges are generate_secret(24): 32 characters. Anything much longer is not one of ours.
MAX_CHALLENGE_LENGTH = 64


@dataclass
class Interaction:
    challenge: str
    # The authorization request as received: each parameter with all its values.
    params: dict[str, list[str]]
    # Whole seconds, like Consent.granted_at: prompt=consent compares the two.
    created_at: int
    # SHA-256 of the secret in the cookie of the browser that started the request.
    browser_digest: str
    # The SSO session of a login made for this very request (prompt=login, max_age).
    login_sid: str | None = None
    # The person the request is bound to, once known.
    user_id: int | None = None

    @property
    def scopes(self) -> list[str]:
        return (self.params.get("scope") or [""])[0].split()

    @property
    def login_hint(self) -> str:
        return (self.params.get("login_hint") or [""])[0]


def create(params: dict[str, list[str]], person: User | None = None) -> Interaction:
    """A new interaction for this browser (given its cookie if it has none yet), bound to
    person when someone is already signed in."""
    interaction = Interaction(
        challenge=security.generate_secret(24),
        params=params,
        created_at=now(),
        browser_digest=security.digest(_browser_secret()),
        user_id=person.id if person else None,
    )
    _save(interaction)
    return interaction


def get(challenge: str | None) -> Interaction | None:
    """This browser's interaction under challenge; None when unknown, expired or another
    browser's. Its ui_locales then choose the page language."""
    interaction = _load(challenge)
    if interaction is None or not _started_in_this_browser(interaction):
        return None
    use_ui_locales(interaction.params)
    return interaction


def start_over(challenge: str | None) -> Interaction | None:
    """The request under challenge, opened in a browser it is not bound to, as a fresh
    interaction of this browser: nothing accepted, nobody bound. None when unknown or expired.

    The other browser's interaction stays as it was: whoever sent this link cannot end it, nor
    use anything done here.
    """
    found = _load(challenge)
    if found is None:
        return None
    return create(found.params)


def bind_person(interaction: Interaction, person: User) -> Interaction:
    """The interaction to go on with as person: this one when it is theirs or nobody's yet;
    when it is someone else's, it ends and a fresh one with the same parameters starts for
    person, so nothing the other did (their login, the time their consent is judged from)
    counts."""
    if interaction.user_id == person.id:
        return interaction
    if interaction.user_id is None:
        interaction.user_id = person.id
        _save(interaction)
        return interaction
    end(interaction)
    return create(interaction.params, person)


def accept_login(interaction: Interaction, session: Session) -> Interaction:
    """The person signed in for this request (Hydra's HandleLoginRequest). Returns the
    interaction to continue: a fresh one when it was bound to someone else."""
    person = db.session.get(User, session.user_id)
    interaction = bind_person(interaction, person)
    interaction.login_sid = session.sid
    _save(interaction)
    return interaction


def accept_consent(
    interaction: Interaction, person: User, client: Client, scopes: list[str]
) -> None:
    """Record that person agreed to share scopes with client: their Consent row gains the
    scopes and the time of this consent (Hydra's HandleConsentRequest). Only the person the
    interaction is bound to can give it."""
    if interaction.user_id != person.id:
        raise ValueError("consent comes only from the person the interaction is bound to")
    consent = _consent_of(person, client)
    if consent is None:
        consent = Consent(user_id=person.id, client_id=client.client_id, scopes=[])
        db.session.add(consent)
    consent.scopes = sorted(set(consent.scopes) | set(scopes))
    consent.granted_at = now()
    db.session.commit()
    audit.record(
        "consent", "granted", account=person.identifier, client_id=client.client_id, scopes=scopes
    )


def reject(interaction: Interaction, person: User) -> None:
    """The person refused to share their data: the interaction ends (the client then gets
    access_denied)."""
    client_id = (interaction.params.get("client_id") or [None])[0]
    audit.record("consent", "denied", account=person.identifier, client_id=client_id)
    end(interaction)


def consent_covers(
    person: User, client: Client, scopes: list[str], since: int | None = None
) -> bool:
    """Whether person's recorded consent to client covers scopes (given at or after `since`,
    when set: prompt=consent asks for consent to this very request).

    granted_at has whole seconds, so consent given in the second the request began, just
    before it, counts too; that can only be the same person's consent to the same client.
    """
    consent = _consent_of(person, client)
    if consent is None or not set(scopes) <= set(consent.scopes):
        return False
    return since is None or consent.granted_at >= since


def client_of(interaction: Interaction) -> Client | None:
    client_id = (interaction.params.get("client_id") or [None])[0]
    return current_app.extensions["idp.oauth"].query_client(client_id)


def end(interaction: Interaction) -> None:
    """The request is answered (a code or an error went to the client): it cannot be resumed."""
    current_app.extensions["idp.store"].delete(KEY.format(interaction.challenge))


def use_ui_locales(params: dict[str, list[str]]) -> None:
    """OIDC Core §3.1.2.1 ui_locales: consulted by web.i18n.select_locale."""
    g.ui_locales = (params.get("ui_locales") or [""])[0]


# -- storage -----------------------------------------------------------------------------------


def _load(challenge: str | None) -> Interaction | None:
    if not challenge or len(challenge) > MAX_CHALLENGE_LENGTH:
        return None
    data = current_app.extensions["idp.store"].get(KEY.format(challenge))
    return Interaction(**data) if data else None


def _save(interaction: Interaction) -> None:
    # The lifetime runs from the request's start, not from its last step.
    lifetime = current_app.config["AUTHORIZATION_REQUEST_LIFETIME"]
    ttl = max(1, interaction.created_at + lifetime - now())
    current_app.extensions["idp.store"].put(
        KEY.format(interaction.challenge), asdict(interaction), ttl
    )


def _consent_of(person: User, client: Client) -> Consent | None:
    return db.session.execute(
        select(Consent).where(Consent.user_id == person.id, Consent.client_id == client.client_id)
    ).scalar()


# -- the browser binding -----------------------------------------------------------------------


def _https() -> bool:
    return current_app.config["ISSUER"].startswith("https://")


def cookie_name() -> str:
    # The __Host- prefix pins the cookie to our origin, over https, for the whole path.
    return "__Host-idp_browser" if _https() else "idp_browser"


def _browser_secret() -> str:
    """This browser's secret: from its cookie, or a new one sent with this response."""
    if "browser_secret" not in g:
        secret = request.cookies.get(cookie_name(), "")
        if not secret:
            secret = security.generate_secret()
            g.browser_cookie = secret
        g.browser_secret = secret
    return g.browser_secret


def _started_in_this_browser(interaction: Interaction) -> bool:
    presented = g.get("browser_secret") or request.cookies.get(cookie_name())
    return security.secret_matches(presented, interaction.browser_digest)


def write_cookie(response: Response) -> Response:
    """after_request: give the browser the secret its interactions are bound to."""
    if "browser_cookie" in g:
        # No Max-Age: it needs to outlive one authorization request, not the browser session.
        # HttpOnly, and SameSite=Lax like the SSO cookie: sent on the top-level navigations of
        # a sign-in, never on cross-site subrequests.
        response.set_cookie(
            cookie_name(),
            g.browser_cookie,
            secure=_https(),
            httponly=True,
            samesite="Lax",
            path="/",
        )
    return response
