"""atomic counters in the short-lived store

Revision ID: 0002_counters
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_counters"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("short_lived_state") as batch:
        batch.add_column(sa.Column("counter", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("short_lived_state") as batch:
        batch.drop_column("counter")
