"""org file preferred models and team steering (issue 17, part 4)

Revision ID: 5e1f9a7c3b20
Revises: 890607d4858a
Create Date: 2026-11-22 22:15:00
"""
import sqlalchemy as sa
from alembic import op


revision = '5e1f9a7c3b20'
down_revision = '890607d4858a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('org_state', sa.Column('steering', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('org_state') as batch:
        batch.drop_column('steering')
