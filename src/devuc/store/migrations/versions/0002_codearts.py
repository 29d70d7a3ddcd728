"""CodeArts projects, members, roles, permission matrices and tenant settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 04:48:26.906134
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('codearts_sequences',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('next_value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_codearts_sequences'))
    )
    op.create_table('codearts_projects',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('num_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('project_type', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('enterprise_id', sa.String(length=64), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.String(length=32), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('next_role_num', sa.Integer(), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_codearts_projects_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_codearts_projects')),
    sa.UniqueConstraint('account_id', 'name', name='uq_codearts_projects_account_name'),
    sa.UniqueConstraint('num_id', name=op.f('uq_codearts_projects_num_id'))
    )
    with op.batch_alter_table('codearts_projects', schema=None) as batch_op:
        batch_op.create_index('ix_codearts_projects_account_id', ['account_id'], unique=False)

    op.create_table('codearts_tenant_settings',
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('project_creation', sa.String(length=16), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_codearts_tenant_settings_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_codearts_tenant_settings'))
    )
    op.create_table('codearts_members',
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('joined_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['codearts_projects.id'], name=op.f('fk_codearts_members_project_id_codearts_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_codearts_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'user_id', name=op.f('pk_codearts_members'))
    )
    with op.batch_alter_table('codearts_members', schema=None) as batch_op:
        batch_op.create_index('ix_codearts_members_user_id', ['user_id'], unique=False)

    op.create_table('codearts_project_creators',
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_codearts_project_creators_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_codearts_project_creators_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'user_id', name=op.f('pk_codearts_project_creators'))
    )
    op.create_table('codearts_role_permissions',
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('role_id', sa.String(length=32), nullable=False),
    sa.Column('permission', sa.String(length=64), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['codearts_projects.id'], name=op.f('fk_codearts_role_permissions_project_id_codearts_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'role_id', 'permission', name=op.f('pk_codearts_role_permissions'))
    )
    op.create_table('codearts_roles',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('num_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['codearts_projects.id'], name=op.f('fk_codearts_roles_project_id_codearts_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_codearts_roles')),
    sa.UniqueConstraint('project_id', 'name', name='uq_codearts_roles_project_name'),
    sa.UniqueConstraint('project_id', 'num_id', name='uq_codearts_roles_project_num')
    )
    op.create_table('codearts_users',
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('num_id', sa.Integer(), nullable=False),
    sa.Column('nick_name', sa.String(length=128), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_codearts_users_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_codearts_users')),
    sa.UniqueConstraint('num_id', name=op.f('uq_codearts_users_num_id'))
    )
    op.create_table('codearts_member_roles',
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('role_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['project_id', 'user_id'], ['codearts_members.project_id', 'codearts_members.user_id'], name='fk_codearts_member_roles_member', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'user_id', 'role_id', name=op.f('pk_codearts_member_roles'))
    )
    # First numbers handed out (spec/projectman.md §2.4); `devuc codearts sequence` moves them.
    sequences = sa.table(
        'codearts_sequences', sa.column('name', sa.String), sa.column('next_value', sa.BigInteger)
    )
    op.bulk_insert(sequences, [
        {'name': 'project_num_id', 'next_value': 1000001},
        {'name': 'user_num_id', 'next_value': 5001},
    ])


def downgrade() -> None:
    op.drop_table('codearts_member_roles')
    op.drop_table('codearts_users')
    op.drop_table('codearts_roles')
    op.drop_table('codearts_role_permissions')
    op.drop_table('codearts_project_creators')
    with op.batch_alter_table('codearts_members', schema=None) as batch_op:
        batch_op.drop_index('ix_codearts_members_user_id')

    op.drop_table('codearts_members')
    op.drop_table('codearts_tenant_settings')
    with op.batch_alter_table('codearts_projects', schema=None) as batch_op:
        batch_op.drop_index('ix_codearts_projects_account_id')

    op.drop_table('codearts_projects')
    op.drop_table('codearts_sequences')
