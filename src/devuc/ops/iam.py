"""``devuc account|user|group|key``: identity objects, by the rules of :mod:`devuc.iam.service`
and :mod:`devuc.iam.keys` (the functions the HTTP routes call)."""

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from ..errors import ApiError
from ..iam.identity import iso_z
from ..opcli import EPILOG, Op, bad_input, command, conflict, record, table
from . import lookup

account_app = typer.Typer(help="Accounts (tenants, IAM domains).", no_args_is_help=True, epilog=EPILOG)
user_app = typer.Typer(help="IAM users of an account.", no_args_is_help=True, epilog=EPILOG)
group_app = typer.Typer(help="IAM user groups of an account.", no_args_is_help=True, epilog=EPILOG)
key_app = typer.Typer(help="Permanent access keys (AK/SK) of a user.", no_args_is_help=True, epilog=EPILOG)

Account = Annotated[str, typer.Option("--account", "-a", help="Account name or id.")]
UserRef = Annotated[str, typer.Argument(help="User name or id.")]
GroupRef = Annotated[str, typer.Argument(help="Group name or id.")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")]


class AccessMode(str, Enum):
    default = "default"
    programmatic = "programmatic"
    console = "console"


class KeyStatus(str, Enum):
    active = "active"
    inactive = "inactive"


def _stdin_password() -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise bad_input("--password-stdin: stdin gave no password")
    return line


# ---------------------------------------------------------------------------------------------
# accounts

ACCOUNT_COLUMNS = ("id", "name", "enabled", "owner_name", "users", "groups", "codearts_projects", "created")


def _account_json(row: dict) -> dict:
    data = {k: v for k, v in row.items() if k != "created_us"}
    data["created"] = iso_z(row["created_us"])
    return data


@command(account_app, "list")
def account_list(op: Op) -> None:
    """Every account, with its owner and how many users, groups and CodeArts projects it has."""
    rows = op.run(lookup.accounts_overview)
    accounts = [_account_json(r) for r in rows]
    op.emit({"accounts": accounts, "total": len(accounts)}, lambda: table("accounts", ACCOUNT_COLUMNS, accounts))


@command(account_app, "show")
def account_show(op: Op, account: Annotated[str, typer.Argument(help="Account name or id.")]) -> None:
    """One account: owner, counts and its region projects."""

    async def work(rt):
        row = await lookup.account(rt, account)
        overview = (await lookup.accounts_overview(rt, row.id))[0]
        return _account_json(overview) | {"region_projects": await lookup.region_projects(rt, row.id)}

    data = op.run(work)
    op.emit({"account": data}, lambda: record(f"account {data['name']}", data))


@command(account_app, "create")
def account_create(
    op: Op,
    name: Annotated[str, typer.Argument(help="Account (domain) name.")],
    owner: Annotated[str, typer.Option("--owner", help="Name of the account's owner user.")] = "admin",
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an account with its owner, admin group, region projects and an access key (what
    `devuc bootstrap` does). The password (generated unless read from stdin) and the secret key
    are printed this once."""
    from ..iam import service

    password = _stdin_password() if password_stdin else None

    async def work(rt):
        try:
            return await service.create_account(rt, name, owner, password)
        except service.AccountExists:
            raise conflict("IAM.0005", f"An account named '{name}' exists already; nothing was changed.") from None
        except ValueError as exc:
            raise bad_input(str(exc)) from None

    data = op.run(work).as_dict()
    op.emit({"account": data}, lambda: record(f"account {name} (keep the password and secret: shown once)", data))


# ---------------------------------------------------------------------------------------------
# users

USER_COLUMNS = ("id", "name", "enabled", "is_domain_owner", "access_mode", "email", "description")


@command(user_app, "list")
def user_list(
    op: Op,
    account: Account,
    enabled: Annotated[Optional[bool], typer.Option("--enabled/--disabled", help="Only enabled / disabled users.")] = None,
) -> None:
    """The users of an account."""
    from ..iam import service

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        rows = await service.list_users(rt, caller, domain_id=None, enabled=enabled, name=None, password_expires_at=None)
        return caller, [service.user_json(r, for_create=False) for r in rows]

    caller, users = op.run(work)
    op.emit({"users": users, "total": len(users)},
            lambda: table(f"users of {caller.account_name}", USER_COLUMNS, users))


@command(user_app, "show")
def user_show(op: Op, user: UserRef, account: Account) -> None:
    """One user, with the groups it belongs to."""
    from ..iam import service

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        uid = await lookup.user_id(rt, caller, user)
        data = service.user_detail_json(await service.show_user(rt, caller, uid), lookup.base_url(rt))
        data.pop("links", None)
        data["groups"] = await lookup.groups_of(rt, uid)
        return data

    data = op.run(work)
    op.emit({"user": data}, lambda: record(f"user {data['name']}", data))


def _user_body(
    *, name=None, email=None, phone=None, areacode=None, description=None, access_mode=None, enabled=None
) -> dict:
    body = {
        "name": name, "email": email, "phone": phone, "areacode": areacode,
        "description": description, "access_mode": access_mode.value if access_mode else None, "enabled": enabled,
    }
    return {k: v for k, v in body.items() if v is not None}


Email = Annotated[Optional[str], typer.Option(help="Email address.")]
Phone = Annotated[Optional[str], typer.Option(help="Mobile number (digits; give --areacode too).")]
Areacode = Annotated[Optional[str], typer.Option(help="Country code of the mobile number, e.g. 0086.")]
Description = Annotated[Optional[str], typer.Option(help="Description (at most 255 characters).")]
Mode = Annotated[Optional[AccessMode], typer.Option("--access-mode", help="Console, programmatic or both (default).")]


@command(user_app, "create")
def user_create(
    op: Op,
    name: Annotated[str, typer.Argument(help="User name.")],
    account: Account,
    email: Email = None,
    phone: Phone = None,
    areacode: Areacode = None,
    description: Description = None,
    access_mode: Mode = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create the user disabled.")] = False,
    password_stdin: PasswordStdin = False,
    generate_password: Annotated[bool, typer.Option("--generate-password", help="Give the user a generated password (printed once).")] = False,
) -> None:
    """Create a user (without a password unless one is read or generated)."""
    from ..iam import service
    from ..iam.passwords import generate_password as generate

    if password_stdin and generate_password:
        raise op.fail(bad_input("--password-stdin and --generate-password exclude each other"))
    password = _stdin_password() if password_stdin else generate() if generate_password else None
    body = _user_body(name=name, email=email, phone=phone, areacode=areacode, description=description,
                      access_mode=access_mode, enabled=False if disabled else None)

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        extra = {"password": password} if password else {}
        row = await service.create_user(rt, caller, {**body, **extra, "domain_id": caller.account_id})
        return service.user_json(row, for_create=True)

    data = op.run(work)
    if generate_password:
        data["password"] = password
    op.emit({"user": data}, lambda: record(f"user {name}", data))


@command(user_app, "update")
def user_update(
    op: Op,
    user: UserRef,
    account: Account,
    name: Annotated[Optional[str], typer.Option("--name", help="New user name.")] = None,
    email: Email = None,
    phone: Phone = None,
    areacode: Areacode = None,
    description: Description = None,
    access_mode: Mode = None,
    enabled: Annotated[Optional[bool], typer.Option("--enable/--disable", help="Enable or disable the user.")] = None,
) -> None:
    """Change a user's attributes (disabling a user ends its tokens)."""
    from ..iam import service

    body = _user_body(name=name, email=email, phone=phone, areacode=areacode, description=description,
                      access_mode=access_mode, enabled=enabled)
    if not body:
        raise op.fail(bad_input("nothing to change: give at least one of --name, --email, --phone, "
                                "--areacode, --description, --access-mode, --enable/--disable"))

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        uid = await lookup.user_id(rt, caller, user)
        return service.user_json(await service.update_user(rt, caller, uid, body), for_create=False)

    data = op.run(work)
    op.emit({"user": data}, lambda: record(f"user {data['name']}", data))


@command(user_app, "set-password")
def user_set_password(
    op: Op,
    user: UserRef,
    account: Account,
    password_stdin: PasswordStdin = False,
    generate_password: Annotated[bool, typer.Option("--generate", help="Generate a password (printed once).")] = False,
) -> None:
    """Set a user's password (ends the tokens it has). Asks for it unless it is read from stdin
    or generated."""
    from ..iam import service
    from ..iam.passwords import generate_password as generate

    if password_stdin and generate_password:
        raise op.fail(bad_input("--password-stdin and --generate exclude each other"))
    if password_stdin:
        password = _stdin_password()
    elif generate_password:
        password = generate()
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True, err=True)

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        uid = await lookup.user_id(rt, caller, user)
        row = await service.update_user(rt, caller, uid, {"password": password})
        return {"id": row.id, "name": row.name, "domain_id": row.account_id}

    data = op.run(work)
    if generate_password:
        data["password"] = password
    op.emit({"user": data}, lambda: (
        record(f"user {data['name']}: new password (shown once)", data) if generate_password
        else f"password of user {data['name']} ({data['id']}) set"
    ))


@command(user_app, "delete")
def user_delete(op: Op, user: UserRef, account: Account) -> None:
    """Delete a user (never the account's owner)."""
    from ..iam import service

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        uid = await lookup.user_id(rt, caller, user)
        await service.delete_user(rt, caller, uid)
        return uid

    uid = op.run(work)
    op.emit({"deleted": {"user_id": uid}}, lambda: f"user {user} ({uid}) deleted")


# ---------------------------------------------------------------------------------------------
# groups

GROUP_COLUMNS = ("id", "name", "description", "create_time")


def _group(row, base: str) -> dict:
    from ..iam import service

    data = service.group_json(row, base)
    data.pop("links", None)
    return data


@command(group_app, "list")
def group_list(op: Op, account: Account) -> None:
    """The user groups of an account."""
    from ..iam import service

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        rows = await service.list_groups(rt, caller, domain_id=None, name=None)
        return caller, [_group(r, lookup.base_url(rt)) for r in rows]

    caller, groups = op.run(work)
    op.emit({"groups": groups, "total": len(groups)},
            lambda: table(f"groups of {caller.account_name}", GROUP_COLUMNS, groups))


@command(group_app, "show")
def group_show(op: Op, group: GroupRef, account: Account) -> None:
    """One group and its members."""
    from ..iam import service

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        gid = await lookup.group_id(rt, caller, group)
        data = _group(await service.show_group(rt, caller, gid), lookup.base_url(rt))
        members = await service.list_group_members(rt, caller, gid)
        data["users"] = [{"id": u.id, "name": u.name} for u in members]
        return data

    data = op.run(work)
    op.emit({"group": data}, lambda: record(f"group {data['name']}", data | {
        "users": ", ".join(u["name"] for u in data["users"]) or "-"}))


@command(group_app, "create")
def group_create(
    op: Op,
    name: Annotated[str, typer.Argument(help="Group name.")],
    account: Account,
    description: Description = None,
) -> None:
    """Create a user group."""
    from ..iam import service

    body = {"name": name} | ({"description": description} if description is not None else {})

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        return _group(await service.create_group(rt, caller, {"group": body}), lookup.base_url(rt))

    data = op.run(work)
    op.emit({"group": data}, lambda: record(f"group {name}", data))


@command(group_app, "update")
def group_update(
    op: Op,
    group: GroupRef,
    account: Account,
    name: Annotated[Optional[str], typer.Option("--name", help="New group name.")] = None,
    description: Description = None,
) -> None:
    """Rename a group or change its description (the built-in admin group keeps its name)."""
    from ..iam import service

    body = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
    if not body:
        raise op.fail(bad_input("nothing to change: give --name and/or --description"))

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        gid = await lookup.group_id(rt, caller, group)
        return _group(await service.update_group(rt, caller, gid, {"group": body}), lookup.base_url(rt))

    data = op.run(work)
    op.emit({"group": data}, lambda: record(f"group {data['name']}", data))


@command(group_app, "delete")
def group_delete(op: Op, group: GroupRef, account: Account) -> None:
    """Delete a group (never the built-in admin group); its users stay."""
    from ..iam import service

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        gid = await lookup.group_id(rt, caller, group)
        await service.delete_group(rt, caller, gid)
        return gid

    gid = op.run(work)
    op.emit({"deleted": {"group_id": gid}}, lambda: f"group {group} ({gid}) deleted")


def _membership(op: Op, group: str, user: str, account: str, adding: bool) -> None:
    from ..iam import service

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        gid = await lookup.group_id(rt, caller, group)
        uid = await lookup.user_id(rt, caller, user)
        if adding:
            await service.add_group_member(rt, caller, gid, uid)
        else:
            await service.remove_group_member(rt, caller, gid, uid)
        return {"group_id": gid, "user_id": uid}

    data = op.run(work)
    verb = "added to" if adding else "removed from"
    op.emit({"added" if adding else "removed": data}, lambda: f"user {user} {verb} group {group}")


@command(group_app, "add-user")
def group_add_user(op: Op, group: GroupRef, user: UserRef, account: Account) -> None:
    """Put a user in a group (a user in the admin group is a Tenant Administrator)."""
    _membership(op, group, user, account, True)


@command(group_app, "remove-user")
def group_remove_user(op: Op, group: GroupRef, user: UserRef, account: Account) -> None:
    """Take a user out of a group."""
    _membership(op, group, user, account, False)


# ---------------------------------------------------------------------------------------------
# access keys

KEY_COLUMNS = ("access", "user_id", "status", "description", "create_time", "last_use_time")
AccessKey = Annotated[str, typer.Argument(help="The access key id (AK).")]
KeyUser = Annotated[str, typer.Option("--user", "-u", help="User name or id.")]


@command(key_app, "list")
def key_list(op: Op, account: Account, user: KeyUser) -> None:
    """A user's permanent access keys (never their secrets)."""
    from ..iam import keys

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        uid = await lookup.user_id(rt, caller, user)
        return [keys.key_json(r, with_last_use=True) for r in await keys.list_permanent(rt, caller, uid)]

    found = op.run(work)
    op.emit({"credentials": found, "total": len(found)}, lambda: table(f"access keys of {user}", KEY_COLUMNS, found))


@command(key_app, "show")
def key_show(op: Op, access: AccessKey, account: Account) -> None:
    """One access key (never its secret)."""
    from ..iam import keys

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        return keys.key_json(await keys.show_permanent(rt, caller, access), with_last_use=True)

    data = op.run(work)
    op.emit({"credential": data}, lambda: record(f"access key {access}", data))


@command(key_app, "create")
def key_create(op: Op, account: Account, user: KeyUser, description: Description = None) -> None:
    """Create a permanent access key (at most two a user). The secret is printed this once."""
    from ..iam import keys

    credential = {"description": description} if description is not None else {}

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        uid = await lookup.user_id(rt, caller, user)
        try:
            data, secret = await keys.create_permanent(rt, caller, {"credential": {**credential, "user_id": uid}})
        except ApiError as exc:
            if exc.message != "akSkNumExceed":
                raise
            raise conflict(exc.code, f"akSkNumExceed: the user has {keys.MAX_PERMANENT_KEYS} permanent "
                           "access keys already; delete one first") from None
        return data | {"secret": secret}

    data = op.run(work)
    op.emit({"credential": data}, lambda: record(f"access key of {user} (keep the secret: shown once)", data))


@command(key_app, "update")
def key_update(
    op: Op,
    access: AccessKey,
    account: Account,
    status: Annotated[Optional[KeyStatus], typer.Option("--status", help="active or inactive.")] = None,
    description: Description = None,
) -> None:
    """Activate or deactivate a key, or change its description."""
    from ..iam import keys

    credential: dict = {}
    if status is not None:
        credential["status"] = status.value
    if description is not None:
        credential["description"] = description
    if not credential:
        raise op.fail(bad_input("nothing to change: give --status and/or --description"))

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        return keys.key_json(await keys.update_permanent(rt, caller, access, {"credential": credential}))

    data = op.run(work)
    op.emit({"credential": data}, lambda: record(f"access key {access}", data))


@command(key_app, "delete")
def key_delete(op: Op, access: AccessKey, account: Account) -> None:
    """Delete a permanent access key (requests signed with it fail from now on)."""
    from ..iam import keys

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        await keys.delete_permanent(rt, caller, access)

    op.run(work)
    op.emit({"deleted": {"access": access}}, lambda: f"access key {access} deleted")
