"""Plumbing shared by the operator verbs of the ``devuc`` command (``account``, ``user``,
``group``, ``key``, ``project``, ``member``, ``role``, ``codearts``, ``vpcep``).

Every operator verb works on the local store (the database a running server uses) through the
same service functions as the HTTP routes, and behaves the same way towards scripts:

* ``--data-dir``, ``--database-url`` and ``--config`` choose the store; the schema is migrated
  first, as ``devuc serve`` does;
* ``--json`` prints exactly one JSON document on stdout; without it a Rich table or one line;
* a failure prints one line ``error: <CODE>: <message>`` on stderr (with ``--json`` also the
  document ``{"error": {"code", "message", "exit_code"}}`` on stdout) and exits with a status
  that says what kind of failure it was (:data:`EXIT_CODES`).

``CODE`` is the catalogue code of the rule that refused (``IAM.0004``, ``PM.02174103``, ...), or
one of the CLI's own: ``INVALID`` (bad input found before any service was asked), ``CONFIG``
(the configuration cannot be used) and ``INTERNAL`` (an unexpected failure). Messages never
carry secrets: service messages do not, and unexpected failures are reported by their kind only.
"""

import asyncio
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import ConfigError, Settings
from .errors import ApiError

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_CONFLICT = 3
EXIT_REFUSED = 4
EXIT_FAILED = 5

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_NOT_FOUND: "not found (account, user, group, key, project, member, role, VPC endpoint)",
    EXIT_USAGE: "bad usage or bad input (a field that breaks a rule of its own)",
    EXIT_CONFLICT: "conflict: the thing exists already, is in use, or a quota is used up",
    EXIT_REFUSED: "refused by a rule (the owner cannot be deleted, a locked role, ...)",
    EXIT_FAILED: "unexpected failure (database unreachable, internal error)",
}

EPILOG = "Exit status of the operator verbs: " + "; ".join(
    f"{code} {meaning}" for code, meaning in EXIT_CODES.items()
) + ". See docs/cli.md."

# Catalogue codes by the kind of failure they report; codes not listed go by their HTTP status
# (404 not found, 409 conflict, 401/403 refused, 5xx failed, anything else bad input).
_NOT_FOUND = {
    "IAM.0004", "PM.02152005", "PM.02150010", "PM.02150303", "CB.00060214",
    "UC.00011005", "UC.00011037", "UC.00011038", "UC.00011045", "UC.00011059", "UC.00011176",
    "UC.00011189", "UC.00010003",
}
_CONFLICT = {
    "IAM.0005", "1109", "1110", "1111", "1115",
    "UC.00011004", "UC.00011009", "UC.00011016", "UC.00011019", "UC.00011020", "UC.00011022",
    "UC.00011023", "UC.00011033", "UC.00011036", "UC.00011039", "UC.00011040", "UC.00011041",
    "UC.00011054", "UC.00011061", "UC.00011177", "UC.00011178", "UC.00011179", "UC.00011191",
}
_REFUSED = {
    "IAM.0002", "IAM.0081", "IAM.0082", "PM.02174103", "PM.02150301", "PM.02150302",
    "UC.00011003", "UC.00011013", "UC.00011015", "UC.00011043", "UC.00011044", "UC.00011065",
    "UC.00011070", "UC.00011071",
}
# The one quota the identity service reports with a generic code (spec/iam.md: two keys a user).
_CONFLICT_MESSAGES = {("IAM.1102", "akSkNumExceed")}

err = Console(stderr=True, soft_wrap=True)
out = Console()


def exit_code_for(exc: ApiError) -> int:
    """The exit status that reports a service's refusal."""
    if exc.code in _NOT_FOUND:
        return EXIT_NOT_FOUND
    if exc.code in _CONFLICT or (exc.code, exc.message) in _CONFLICT_MESSAGES:
        return EXIT_CONFLICT
    if exc.code in _REFUSED:
        return EXIT_REFUSED
    if exc.status == 404:
        return EXIT_NOT_FOUND
    if exc.status == 409:
        return EXIT_CONFLICT
    if exc.status in (401, 403):
        return EXIT_REFUSED
    if exc.status >= 500:
        return EXIT_FAILED
    return EXIT_USAGE


class OpError(Exception):
    """A failure the CLI itself finds (a name that resolves to nothing, options that do not go
    together); reported exactly like a service's ApiError."""

    def __init__(self, code: str, message: str, exit_code: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.exit_code = exit_code


def not_found(code: str, message: str) -> OpError:
    return OpError(code, message, EXIT_NOT_FOUND)


def bad_input(message: str) -> OpError:
    return OpError("INVALID", message, EXIT_USAGE)


def conflict(code: str, message: str) -> OpError:
    return OpError(code, message, EXIT_CONFLICT)


def refused(code: str, message: str) -> OpError:
    return OpError(code, message, EXIT_REFUSED)


# ---------------------------------------------------------------------------------------------
# options every operator verb takes

DataDir = Annotated[
    Optional[Path], typer.Option("--data-dir", help="Data folder (SQLite file, master key). [DEVUC_DATA_DIR]")
]
DatabaseUrl = Annotated[
    Optional[str],
    typer.Option("--database-url", help="SQLAlchemy URL, e.g. postgresql+asyncpg://... [DEVUC_DATABASE_URL]"),
]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", help="TOML configuration file. [DEVUC_CONFIG]")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")]


@dataclass(frozen=True)
class Op:
    """How one invocation was asked to run: where the store is and how to print."""

    as_json: bool = False
    data_dir: Path | None = None
    database_url: str | None = None
    config: Path | None = None

    def run(self, work: Callable[[Any], Any]) -> Any:
        """``await work(runtime)`` on the migrated store; every failure becomes its one-line
        report and exit status."""
        return run(work, self.config, self.data_dir, self.database_url, as_json=self.as_json)

    def fail(self, exc: ApiError | OpError) -> typer.Exit:
        return fail(exc, as_json=self.as_json)

    def emit(self, data: Any, render: Callable[[], Any] | None = None) -> None:
        emit(data, self.as_json, render)


_OP_OPTIONS = (
    ("as_json", AsJson, False),
    ("data_dir", DataDir, None),
    ("database_url", DatabaseUrl, None),
    ("config", ConfigFile, None),
)


def command(app: typer.Typer, name: str, **kw: Any):
    """Register ``fn(op, ...)`` as ``name`` of ``app``, giving it ``--json``, ``--data-dir``,
    ``--database-url`` and ``--config``; ``op`` is the :class:`Op` they make."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "op"]
        extra = [
            inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            for pname, annotation, default in _OP_OPTIONS
        ]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + extra

        def wrapper(**kwargs: Any) -> Any:
            op = Op(*(kwargs.pop(pname) for pname, _, _ in _OP_OPTIONS))
            return fn(op, **kwargs)

        wrapper.__name__ = fn.__name__
        wrapper.__qualname__ = fn.__qualname__
        wrapper.__doc__ = fn.__doc__
        wrapper.__module__ = fn.__module__
        wrapper.__signature__ = signature.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        app.command(name, **kw)(wrapper)
        return fn

    return register


# ---------------------------------------------------------------------------------------------
# running against the store


def load_settings(config: Path | None, data_dir: Path | None, database_url: str | None, *, as_json: bool = False) -> Settings:
    # Everything devuc writes (database, master key) is for its owner's eyes only.
    os.umask(0o077)
    try:
        return Settings.load(config, data_dir=data_dir, database_url=database_url)
    except ConfigError as exc:
        raise fail(OpError("CONFIG", str(exc), EXIT_USAGE), as_json=as_json) from None


def _unexpected(exc: BaseException) -> OpError:
    """An unexpected failure, told by its kind only: driver messages can quote SQL parameters."""
    kind = type(exc).__name__
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's exception
    if orig is not None:
        kind = f"{kind} ({type(orig).__name__})"
    detail = ""
    if isinstance(exc, (OSError, ConnectionError)) or isinstance(orig, (OSError, ConnectionError)):
        detail = f": {getattr(exc, 'strerror', None) or 'the database cannot be reached'}"
    return OpError("INTERNAL", f"unexpected failure: {kind}{detail}", EXIT_FAILED)


def run(
    work: Callable[[Any], Any],
    config: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    *,
    as_json: bool = False,
) -> Any:
    """Open the configured store (migrated), ``await work(runtime)`` and close it again. An
    ApiError or OpError becomes its report and exit status; so does anything unexpected."""
    from .runtime import with_runtime
    from .store.migrate import upgrade

    settings = load_settings(config, data_dir, database_url, as_json=as_json)
    quiet_service_logs()
    try:
        upgrade(settings.effective_database_url)
        return asyncio.run(with_runtime(settings, work))
    except (ApiError, OpError) as exc:
        raise fail(exc, as_json=as_json) from None
    except ValueError as exc:  # a few service functions say "bad input" this way
        raise fail(bad_input(str(exc)), as_json=as_json) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - reported, never shown as a traceback
        raise fail(_unexpected(exc), as_json=as_json) from None


def quiet_service_logs() -> None:
    """Service log records (a refusal, an account created) are for a server's log; on the
    command line the one report line says what happened, so they are not printed."""
    logger = logging.getLogger("devuc")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def fail(exc: ApiError | OpError, *, as_json: bool = False) -> typer.Exit:
    """Report a failure (stderr line; with --json also the error document) and return the
    Exit to raise."""
    status = exc.exit_code if isinstance(exc, OpError) else exit_code_for(exc)
    message = " ".join(exc.message.split())
    err.print(f"[red]error:[/] {escape(exc.code)}: {escape(message)}", highlight=False)
    if as_json:
        write_json({"error": {"code": exc.code, "message": message, "exit_code": status}})
    return typer.Exit(status)


# ---------------------------------------------------------------------------------------------
# output


def write_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit(data: Any, as_json: bool, render: Callable[[], Any] | None = None) -> None:
    """One JSON document, or what ``render()`` makes of it (a Rich renderable or a string)."""
    if as_json:
        write_json(data)
        return
    shown = render() if render is not None else data
    if isinstance(shown, str):
        out.print(shown, highlight=False, markup=False)
    else:
        out.print(shown)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def table(title: str, columns: Iterable[str], rows: Iterable[dict], **kw: Any) -> Table:
    """A table of ``rows`` (dicts) showing ``columns``; every cell escaped for Rich markup. The
    first column is the rows' identifier: it is never wrapped, so it can be copied whole from a
    narrow terminal; the others fold."""
    columns = list(columns)
    t = Table(title=escape(title), **kw)
    for i, column in enumerate(columns):
        if i == 0:
            t.add_column(column, no_wrap=True)
        else:
            t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*(escape(cell(row.get(c))) for c in columns))
    return t


def record(title: str, data: dict, keys: Iterable[str] | None = None) -> Table:
    """One object as a two-column table."""
    t = Table(title=escape(title), show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value", overflow="fold")
    for key in keys if keys is not None else data:
        t.add_row(escape(key), escape(cell(data.get(key))))
    return t
