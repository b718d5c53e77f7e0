"""client metadata for consent and back-channel logout; dynamic registration

Revision ID: 0005_client_registration
Revises: 0004_session_precision
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_client_registration"
down_revision = "0004_session_precision"
branch_labels = None
depends_on = None

URI_COLUMNS = ("backchannel_logout_uri", "client_uri", "logo_uri", "policy_uri", "tos_uri")


def upgrade():
    with op.batch_alter_table("clients") as batch:
        for name in URI_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(500), nullable=True))
        batch.add_column(
            sa.Column("contacts", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(
            sa.Column("approved", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("registration_token_hash", sa.String(64), nullable=True))
    op.create_table(
        "initial_access_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.Column("uses_left", sa.Integer(), nullable=False),
    )


def downgrade():
    op.drop_table("initial_access_tokens")
    with op.batch_alter_table("clients") as batch:
        for name in (*URI_COLUMNS, "contacts", "approved", "registration_token_hash"):
            batch.drop_column(name)
