"""CodeArts permission templates

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "codearts_permission_templates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("project_type", sa.String(length=16), nullable=False),
        sa.Column("source_project_id", sa.String(length=32), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_codearts_permission_templates_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_project_id"], ["codearts_projects.id"],
                                name=op.f("fk_codearts_permission_templates_source_project_id_codearts_projects"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codearts_permission_templates")),
        sa.UniqueConstraint("account_id", "name", name="uq_codearts_permission_templates_account_name"),
        sa.UniqueConstraint("source_project_id", name=op.f("uq_codearts_permission_templates_source_project_id")),
    )


def downgrade() -> None:
    op.drop_table("codearts_permission_templates")
