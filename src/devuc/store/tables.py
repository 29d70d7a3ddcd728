"""Table definitions (SQLAlchemy Core). Times are integer microseconds since the Unix epoch, UTC,
so SQLite and PostgreSQL store and compare them the same way."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
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
