"""Table definitions (SQLAlchemy Core). Times are integer microseconds since the Unix epoch, UTC,
so SQLite and PostgreSQL store and compare them the same way."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id(name: str = "id", *args, **kw) -> Column:
    return Column(name, String(32), *args, **kw)


accounts = Table(
    "accounts",
    metadata,
    _id(primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("description", String(255), nullable=False, default=""),
    Column("created_us", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    _id(primary_key=True),
    _id("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("password_hash", String(255)),
    Column("email", String(255), nullable=False, default=""),
    Column("areacode", String(16), nullable=False, default=""),
    Column("phone", String(32), nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("pwd_status", Boolean, nullable=False, default=False),
    Column("access_mode", String(16), nullable=False, default="default"),
    Column("description", String(255), nullable=False, default=""),
    Column("is_owner", Boolean, nullable=False, default=False),
    Column("xuser_type", String(64), nullable=False, default=""),
    Column("xuser_id", String(128), nullable=False, default=""),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger),
    Column("last_login_us", BigInteger),
    Column("last_pwd_auth_us", BigInteger),
    Column("pwd_created_us", BigInteger),
    # Tokens issued before this instant are revoked (password change, disable, key change).
    Column("tokens_valid_after_us", BigInteger, nullable=False, default=0),
    Column("locked_until_us", BigInteger, nullable=False, default=0),
    UniqueConstraint("account_id", "name", name="uq_users_account_name"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _id("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at_us", BigInteger, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    _id(primary_key=True),
    _id("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", String(255), nullable=False, default=""),
    Column("builtin", Boolean, nullable=False, default=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_groups_account_name"),
)

group_members = Table(
    "group_members",
    metadata,
    _id("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    _id("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_group_members_user_id", "user_id"),
)

region_projects = Table(
    "region_projects",
    metadata,
    _id(primary_key=True),
    _id("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    _id("parent_id", nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("description", String(255), nullable=False, default=""),
    UniqueConstraint("account_id", "name", name="uq_region_projects_account_name"),
)

token_keys = Table(
    "token_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_enc", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

token_revocations = Table(
    "token_revocations",
    metadata,
    Column("audit_id", String(32), primary_key=True),
    Column("expires_us", BigInteger, nullable=False, index=True),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access", String(20), primary_key=True),
    _id("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    _id("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("secret_enc", Text, nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("description", String(255), nullable=False, default=""),
    Column("created_us", BigInteger, nullable=False),
    Column("last_use_us", BigInteger),
    # Consecutive bad signatures, and the lock they lead to (spec/iam.md §4.3).
    Column("failed_signatures", Integer, nullable=False, default=0),
    Column("locked_until_us", BigInteger, nullable=False, default=0),
    # Temporary keys: their security token (encrypted like the secret) and their expiry.
    Column("temporary", Boolean, nullable=False, default=False),
    Column("security_token_enc", Text),
    Column("expires_us", BigInteger),
)

# ---------------------------------------------------------------------------------------------
# CodeArts User Center (spec/projectman.md, spec/codearts-uc.md §5)

# Deployment-wide counters (project_num_id, user_num_id): advanced with UPDATE ... RETURNING, so
# concurrent writers on any node get distinct numbers.
codearts_sequences = Table(
    "codearts_sequences",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("next_value", BigInteger, nullable=False),
)

# A user as CodeArts knows them: numeric id and nickname, created the first time they are seen.
codearts_users = Table(
    "codearts_users",
    metadata,
    _id("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("num_id", Integer, nullable=False, unique=True),
    Column("nick_name", String(128)),  # None: the IAM user name
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

# The tenant's "Project Creators" setting: all users, or only the selected ones.
codearts_tenant_settings = Table(
    "codearts_tenant_settings",
    metadata,
    _id("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("project_creation", String(16), nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

codearts_project_creators = Table(
    "codearts_project_creators",
    metadata,
    _id("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    _id("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

codearts_projects = Table(
    "codearts_projects",
    metadata,
    _id(primary_key=True),
    Column("num_id", Integer, nullable=False, unique=True),
    _id("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("region", String(64), nullable=False, default=""),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("project_type", String(16), nullable=False),
    Column("source", String(64), nullable=False, default=""),
    Column("enterprise_id", String(64), nullable=False, default="0"),
    Column("template_id", Integer),
    _id("creator_id", nullable=False),
    Column("archived", Boolean, nullable=False, default=False),
    # Number the next custom role of this project gets (ProjectMan and Build role_id).
    Column("next_role_num", Integer, nullable=False, default=500),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_codearts_projects_account_name"),
    Index("ix_codearts_projects_account_id", "account_id"),
)

# Custom roles of a project (system roles are the catalogue in devuc.codearts.roles).
codearts_roles = Table(
    "codearts_roles",
    metadata,
    _id(primary_key=True),
    _id("project_id", ForeignKey("codearts_projects.id", ondelete="CASCADE"), nullable=False),
    Column("num_id", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    UniqueConstraint("project_id", "num_id", name="uq_codearts_roles_project_num"),
    UniqueConstraint("project_id", "name", name="uq_codearts_roles_project_name"),
)

codearts_members = Table(
    "codearts_members",
    metadata,
    _id("project_id", ForeignKey("codearts_projects.id", ondelete="CASCADE"), primary_key=True),
    _id("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("joined_us", BigInteger, nullable=False),
    Index("ix_codearts_members_user_id", "user_id"),
)

# The roles a member holds in a project (one or more); role_id is a devuc role id.
codearts_member_roles = Table(
    "codearts_member_roles",
    metadata,
    _id("project_id", primary_key=True),
    _id("user_id", primary_key=True),
    _id("role_id", primary_key=True),
    ForeignKeyConstraint(
        ["project_id", "user_id"],
        ["codearts_members.project_id", "codearts_members.user_id"],
        ondelete="CASCADE",
        name="fk_codearts_member_roles_member",
    ),
)

# Matrix cells changed from the catalogue defaults (custom roles: every cell set so far).
codearts_role_permissions = Table(
    "codearts_role_permissions",
    metadata,
    _id("project_id", ForeignKey("codearts_projects.id", ondelete="CASCADE"), primary_key=True),
    _id("role_id", primary_key=True),
    Column("permission", String(64), primary_key=True),
    Column("granted", Boolean, nullable=False),
)

# CodeArts Build tasks, known only through their permission matrices (spec/projectman.md §4.3-4.6):
# the first write for a task binds it to a project and makes its caller the task's creator.
codearts_build_jobs = Table(
    "codearts_build_jobs",
    metadata,
    _id(primary_key=True),
    _id("project_id", ForeignKey("codearts_projects.id", ondelete="CASCADE"), nullable=False),
    _id("creator_id", nullable=False),
    # True: the task uses the project's Build matrix; False: its own rows below.
    Column("follows_project", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_codearts_build_jobs_project_id", "project_id"),
)

# A task's own matrix: one row per role (a devuc role id), the seven task permissions.
codearts_build_job_roles = Table(
    "codearts_build_job_roles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _id("job_id", ForeignKey("codearts_build_jobs.id", ondelete="CASCADE"), nullable=False),
    _id("role_id", nullable=False),
    Column("is_modify", Boolean, nullable=False),
    Column("is_delete", Boolean, nullable=False),
    Column("is_view", Boolean, nullable=False),
    Column("is_execute", Boolean, nullable=False),
    Column("is_copy", Boolean, nullable=False),
    Column("is_forbidden", Boolean, nullable=False),
    Column("is_manager", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    UniqueConstraint("job_id", "role_id", name="uq_codearts_build_job_roles_job_role"),
)

# Permission templates (spec/codearts-uc.md §5.5): a project's roles and matrix saved under a
# name, per account; ``content`` is JSON (codearts/templates.py). A project makes at most one.
codearts_permission_templates = Table(
    "codearts_permission_templates",
    metadata,
    _id(primary_key=True),
    _id("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("region", String(64), nullable=False, default=""),
    Column("name", String(64), nullable=False),
    Column("description", String(256), nullable=False, default=""),
    Column("project_type", String(16), nullable=False),
    _id("source_project_id", ForeignKey("codearts_projects.id", ondelete="SET NULL"), unique=True),
    Column("content", Text, nullable=False),
    _id("created_by", nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_codearts_permission_templates_account_name"),
)

# ---------------------------------------------------------------------------------------------
# Private access (spec/codearts-uc.md §4, §6)

# The VPC endpoints a tenant allow-listed, per region (the primary key serves the per-request
# private-access check and the list sorted by vpcep_id).
vpcep_records = Table(
    "vpcep_records",
    metadata,
    _id("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("region", String(40), primary_key=True),
    Column("vpcep_id", String(40), primary_key=True),
    Column("description", String(128), nullable=False, default=""),
    Column("created_us", BigInteger, nullable=False),
)

# The operator's private-access switch per tenant and region; without a row it is on.
private_access_switches = Table(
    "private_access_switches",
    metadata,
    _id("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("region", String(40), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

# ---------------------------------------------------------------------------------------------
# Cache coherence

# One row whose value every write that can change an authorisation decision increments (in the
# same transaction). A node may keep what it derived from the store for as long as this value is
# unchanged: reading it is one tiny query, so every node sees every change on its next request.
store_generation = Table(
    "store_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
)

# ---------------------------------------------------------------------------------------------
# Audit trail

# Every mutating call and every denied request: who, what, from where, and how it ended. Never a
# body, a header value or a secret.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_us", BigInteger, nullable=False, index=True),
    Column("request_id", String(32), nullable=False),
    Column("account_id", String(32), index=True),
    Column("user_id", String(32)),
    Column("action", String(160), nullable=False),
    Column("target", String(512), nullable=False),
    Column("source", String(64), nullable=False),
    Column("vpc_endpoint", String(64)),
    Column("status", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", String(255)),  # why authorization refused (or would have refused) it
)

# ---------------------------------------------------------------------------------------------
# Rate limiting shared between nodes (PostgreSQL)

# Requests per client in one-second windows, counted by every node together.
rate_windows = Table(
    "rate_windows",
    metadata,
    Column("client", String(64), primary_key=True),
    Column("window", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
)
