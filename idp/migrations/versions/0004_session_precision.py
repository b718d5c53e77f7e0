"""sessions_valid_after with sub-second precision

Revision ID: 0004_session_precision
Revises: 0003_security_question
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_session_precision"
down_revision = "0003_security_question"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.alter_column("sessions_valid_after", type_=sa.Double(), existing_nullable=False)


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.alter_column("sessions_valid_after", type_=sa.Integer(), existing_nullable=False)
