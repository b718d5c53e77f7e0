"""security question for account recovery

Revision ID: 0003_security_question
Revises: 0002_counters
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_security_question"
down_revision = "0002_counters"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("security_question", sa.String(64), nullable=True))
        batch.add_column(sa.Column("security_answer_hash", sa.String(255), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("security_answer_hash")
        batch.drop_column("security_question")
