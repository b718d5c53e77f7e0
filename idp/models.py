"""Durable data: accounts, clients, consents, grants, refresh tokens, revocations, audit.

Short-lived state (authorization codes, pending requests, SSO sessions, replay caches) lives in
``idp.store`` instead. Secrets the provider generates are kept only as SHA-256 digests
(``idp.security``); passwords only as argon2id hashes.
"""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import urlsplit

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy import true as sa_true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from . import security


class Base(DeclarativeBase):
    pass


# Objects stay readable after commit (no reload per attribute): views commit, then render.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})

CITIZEN = "citizen"
BUSINESS = "business"


def now() -> int:
    return int(time.time())


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("kind", "identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The public `sub`: random and stable, never the NID (OIDC Core §2, docs/domain.md).
    subject: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # NID for citizens, NIPT for businesses, upper case without spaces.
    identifier: Mapped[str] = mapped_column(String(16), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    birthdate: Mapped[dt.date | None]
    business_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(default=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_verified: Mapped[bool] = mapped_column(default=False)
    # Recovery only, never a sign-in factor (NIST SP 800-63B): a key of
    # auth.security_questions.QUESTIONS and the argon2id hash of the normalised answer.
    security_question: Mapped[str | None] = mapped_column(String(64))
    security_answer_hash: Mapped[str | None] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[int] = mapped_column(default=now)
    # Sessions started before this moment (seconds, sub-second precision) are no longer valid:
    # "sign out everywhere", password change and reset.
    sessions_valid_after: Mapped[float] = mapped_column(default=0)

    def get_user_id(self) -> int:
        return self.id


class Client(db.Model):
    """A relying party. Implements what Authlib's ClientMixin asks for, over hashed secrets."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)
    # RFC 8707 resource indicators this client may ask tokens for; each becomes an `aud`.
    resources: Mapped[list] = mapped_column(JSON, default=list)
    # Public keys for private_key_jwt (RFC 7523), as a JWKS document.
    jwks: Mapped[dict | None] = mapped_column(JSON)
    first_party: Mapped[bool] = mapped_column(default=False)
    subject_type: Mapped[str] = mapped_column(String(16), default="public")
    sector_identifier: Mapped[str | None] = mapped_column(String(255))
    id_token_signed_response_alg: Mapped[str | None] = mapped_column(String(16))
    # OpenID Connect Back-Channel Logout 1.0: where logout tokens are POSTed.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    # Shown on the consent screen (RFC 7591 §2 client metadata).
    client_uri: Mapped[str | None] = mapped_column(String(500))
    logo_uri: Mapped[str | None] = mapped_column(String(500))
    policy_uri: Mapped[str | None] = mapped_column(String(500))
    tos_uri: Mapped[str | None] = mapped_column(String(500))
    contacts: Mapped[list] = mapped_column(JSON, default=list)
    # Clients registered dynamically (RFC 7591) wait for an operator before anyone signs in.
    approved: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    # RFC 7592: the registration access token that manages this client, as a SHA-256 digest.
    registration_token_hash: Mapped[str | None] = mapped_column(String(64))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[int] = mapped_column(default=now)

    # -- Authlib ClientMixin --
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous single registration may be implied (RFC 6749 §3.1.2.3).
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        requested = (scope or "").split()
        if not requested:
            return None
        # Refuse rather than silently trim: the person consents to exactly what is shown.
        if not set(requested) <= set(self.scopes):
            return None
        return " ".join(dict.fromkeys(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison (RFC 9700 §4.1.3), no prefix or pattern matching.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return security.secret_matches(client_secret, self.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def client_metadata(self) -> dict:
        """Registered metadata in RFC 7591 names, as Authlib's endpoints read them."""
        return {
            "client_name": self.name,
            "redirect_uris": self.redirect_uris,
            "post_logout_redirect_uris": self.post_logout_redirect_uris,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "grant_types": self.grant_types,
            "scope": " ".join(self.scopes),
        }

    def pairwise_sector(self) -> str | None:
        if self.subject_type != "pairwise":
            return None
        if self.sector_identifier:
            return self.sector_identifier
        hosts = {urlsplit(uri).hostname for uri in self.redirect_uris}
        return hosts.pop() if len(hosts) == 1 else None


class InitialAccessToken(db.Model):
    """RFC 7591 §3: operators hand one to an agency so it may register a client itself."""

    __tablename__ = "initial_access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(default=now)
    expires_at: Mapped[int]
    # How many more registrations it allows.
    uses_left: Mapped[int] = mapped_column(default=1)


class Consent(db.Model):
    """What a person agreed to share with a client; remembered until they revoke it."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    granted_at: Mapped[int] = mapped_column(default=now)


class Grant(db.Model):
    """One authorization: everything issued from one authorization code (a token family).

    Revoking the grant makes its refresh tokens and its JWT access tokens (whose `jti` starts with
    the grant id) inactive at once: on code replay, refresh-token reuse, consent revocation and
    logout.
    """

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(String(1000))
    resources: Mapped[list] = mapped_column(JSON, default=list)
    sid: Mapped[str | None] = mapped_column(String(64), index=True)
    auth_time: Mapped[int]
    acr: Mapped[str | None] = mapped_column(String(200))
    amr: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[int] = mapped_column(default=now)
    expires_at: Mapped[int]
    revoked_at: Mapped[int | None]

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > now()


class RefreshToken(db.Model):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[int] = mapped_column(default=now)
    # Set when the token is exchanged; a second use of a spent token revokes the grant.
    used_at: Mapped[int | None]
    grant: Mapped[Grant] = relationship(lazy="joined")

    # -- what Authlib's refresh-token grant and introspection ask of a token --
    def check_client(self, client: Client) -> bool:
        return self.grant.client_id == client.client_id

    def get_scope(self) -> str:
        return self.grant.scope

    def is_expired(self) -> bool:
        return self.grant.expires_at <= now()

    def is_revoked(self) -> bool:
        return self.used_at is not None or self.grant.revoked_at is not None


class RevokedToken(db.Model):
    """JWT access tokens revoked one by one (RFC 7009), kept until they would expire anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(80), primary_key=True)
    expires_at: Mapped[int] = mapped_column(index=True)


class AuditEvent(db.Model):
    """Security-relevant events. Never holds a password, code or token."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[int] = mapped_column(default=now)
    event: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    account: Mapped[str | None] = mapped_column(String(64), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
