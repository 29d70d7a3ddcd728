"""private access: allow-listed VPC endpoints and the operator's switch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 05:10:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vpcep_records',
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('region', sa.String(length=40), nullable=False),
    sa.Column('vpcep_id', sa.String(length=40), nullable=False),
    sa.Column('description', sa.String(length=128), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_vpcep_records_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'region', 'vpcep_id', name=op.f('pk_vpcep_records'))
    )
    op.create_table('private_access_switches',
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('region', sa.String(length=40), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_private_access_switches_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'region', name=op.f('pk_private_access_switches'))
    )


def downgrade() -> None:
    op.drop_table('private_access_switches')
    op.drop_table('vpcep_records')
