"""CodeArts Build tasks and their own permission matrices

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FLAGS = ("is_modify", "is_delete", "is_view", "is_execute", "is_copy", "is_forbidden", "is_manager")


def upgrade() -> None:
    op.create_table(
        "codearts_build_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("follows_project", sa.Boolean(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["codearts_projects.id"],
                                name=op.f("fk_codearts_build_jobs_project_id_codearts_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codearts_build_jobs")),
    )
    op.create_index("ix_codearts_build_jobs_project_id", "codearts_build_jobs", ["project_id"])
    op.create_table(
        "codearts_build_job_roles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("role_id", sa.String(length=32), nullable=False),
        *(sa.Column(flag, sa.Boolean(), nullable=False) for flag in FLAGS),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["codearts_build_jobs.id"],
                                name=op.f("fk_codearts_build_job_roles_job_id_codearts_build_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codearts_build_job_roles")),
        sa.UniqueConstraint("job_id", "role_id", name="uq_codearts_build_job_roles_job_role"),
    )


def downgrade() -> None:
    op.drop_table("codearts_build_job_roles")
    op.drop_index("ix_codearts_build_jobs_project_id", table_name="codearts_build_jobs")
    op.drop_table("codearts_build_jobs")
