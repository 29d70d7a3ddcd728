"""Turning what an operator types (an id or a name) into the thing it names, and the operator's
standing in an account.

The operator acts as a Tenant Administrator of the account concerned who is no user of it (user
id ``""``): the service functions then apply exactly the rules they apply to an administrator
calling over HTTP (the owner cannot be deleted, locked roles stay locked, quotas hold).
"""

from sqlalchemy import func, or_, select

from ..iam.identity import Principal
from ..opcli import bad_input, not_found
from ..store import tables as t

OPERATOR_USER = ""


def operator(account_id: str, account_name: str) -> Principal:
    return Principal(
        account_id=account_id,
        account_name=account_name,
        user_id=OPERATOR_USER,
        user_name="",
        is_owner=False,
        is_admin=True,
        project_id=None,
        project_name=None,
        method="operator",
    )


def base_url(rt) -> str:
    s = rt.settings
    return (s.public_url or f"http://{s.host}:{s.port}").rstrip("/")


async def account(rt, ref: str):
    """The account with this id or name (a row of ``accounts``)."""
    a = t.accounts
    async with rt.store.read() as conn:
        rows = (await conn.execute(select(a).where(or_(a.c.id == ref, a.c.name == ref)))).all()
    if not rows:
        raise not_found("IAM.0004", f"No account named or with id '{ref}'.")
    # an id wins over a name that happens to look like one
    return next((r for r in rows if r.id == ref), rows[0])


async def account_principal(rt, ref: str) -> Principal:
    row = await account(rt, ref)
    return operator(row.id, row.name)


async def accounts_overview(rt, account_id: str | None = None) -> list[dict]:
    """Every account (or one) with how many users, groups and CodeArts projects it holds and
    who owns it."""
    a, u, g, p = t.accounts, t.users, t.groups, t.codearts_projects

    def count(table):
        return select(func.count()).where(table.c.account_id == a.c.id).scalar_subquery()

    owner = select(u.c.name).where(u.c.account_id == a.c.id, u.c.is_owner.is_(True)).limit(1).scalar_subquery()
    owner_id = select(u.c.id).where(u.c.account_id == a.c.id, u.c.is_owner.is_(True)).limit(1).scalar_subquery()
    query = select(
        a.c.id, a.c.name, a.c.enabled, a.c.description, a.c.created_us,
        owner_id.label("owner_id"), owner.label("owner_name"),
        count(u).label("users"), count(g).label("groups"), count(p).label("codearts_projects"),
    ).order_by(a.c.name)
    if account_id is not None:
        query = query.where(a.c.id == account_id)
    async with rt.store.read() as conn:
        rows = (await conn.execute(query)).all()
    return [
        {
            "id": r.id, "name": r.name, "enabled": bool(r.enabled), "description": r.description,
            "created_us": r.created_us, "owner_id": r.owner_id, "owner_name": r.owner_name,
            "users": r.users, "groups": r.groups, "codearts_projects": r.codearts_projects,
        }
        for r in rows
    ]


async def region_projects(rt, account_id: str) -> dict[str, str]:
    rp = t.region_projects
    async with rt.store.read() as conn:
        rows = await conn.execute(select(rp.c.name, rp.c.id).where(rp.c.account_id == account_id).order_by(rp.c.name))
        return {r.name: r.id for r in rows}


async def _by_id_or_name(rt, table, caller: Principal, ref: str, what: str, code: str):
    async with rt.store.read() as conn:
        rows = (
            await conn.execute(
                select(table.c.id, table.c.name).where(
                    table.c.account_id == caller.account_id, or_(table.c.id == ref, table.c.name == ref)
                )
            )
        ).all()
    if not rows:
        raise not_found(code, f"No {what} named or with id '{ref}' in account {caller.account_name}.")
    return next((r for r in rows if r.id == ref), rows[0]).id


async def user_id(rt, caller: Principal, ref: str) -> str:
    """The id of the user of the caller's account with this id or name."""
    return await _by_id_or_name(rt, t.users, caller, ref, "user", "IAM.0004")


async def group_id(rt, caller: Principal, ref: str) -> str:
    return await _by_id_or_name(rt, t.groups, caller, ref, "group", "IAM.0004")


async def groups_of(rt, user_id: str) -> list[str]:
    """The names of the groups a user belongs to."""
    g, gm = t.groups, t.group_members
    async with rt.store.read() as conn:
        rows = await conn.execute(
            select(g.c.name).join(gm, gm.c.group_id == g.c.id).where(gm.c.user_id == user_id).order_by(g.c.name)
        )
        return [r.name for r in rows]


async def project(rt, ref: str, account_ref: str | None) -> tuple[str, Principal]:
    """A CodeArts project by id (anywhere) or by name (in ``account_ref``), and the operator's
    standing in its account."""
    p, a = t.codearts_projects, t.accounts
    query = select(p.c.id, p.c.account_id, a.c.name.label("account_name")).join_from(p, a, p.c.account_id == a.c.id)
    if account_ref is not None:
        owner = await account(rt, account_ref)
        query = query.where(p.c.account_id == owner.id, or_(p.c.id == ref, p.c.name == ref))
    else:
        query = query.where(p.c.id == ref)
    async with rt.store.read() as conn:
        rows = (await conn.execute(query)).all()
    if not rows:
        where = f" in account {account_ref}" if account_ref else " (give --account to find it by name)"
        raise not_found("PM.02152005", f"No CodeArts project named or with id '{ref}'{where}.")
    row = next((r for r in rows if r.id == ref), rows[0])
    return row.id, operator(row.account_id, row.account_name)


def role_ref(roles: list[dict], ref: str) -> dict:
    """The role (as role_admin answers it) that ``ref`` names: its 32-character id, its
    ProjectMan integer, its name, or its English name / key (``developer``, ``project_manager``)."""
    wanted = ref.strip()
    folded = wanted.lower().replace("-", "").replace("_", "").replace(" ", "")
    for role in roles:
        keys = {role["role_id"], str(role["projectman_role_id"]), role["name"]}
        if role.get("name_en"):
            keys.add(role["name_en"].lower().replace(" ", ""))
        if wanted in keys or folded in keys:
            return role
    if not wanted:
        raise bad_input("a role must be named")
    raise not_found("UC.00011189", f"Role not found: '{ref}' is not a role of this project.")
