"""Every authorization refusal goes through here, and the enforcement mode decides its fate.

The mode is chosen when the service starts (``Settings.enforcement``, docs/enforcement.md):

* ``enforce`` (the default): a refusal is an :class:`ApiError`, as the cloud answers it;
* ``log``: the refusal is decided exactly as in ``enforce``, logged and recorded in the audit
  trail with its reason, and the request goes on as if it had been allowed;
* ``off``: authorization refusals are skipped without a word (authentication still applies).

Two kinds of refusal never depend on the mode (:func:`always`): tenant isolation (the resource
belongs to another account: letting the request through would show or change another tenant's
data) and integrity rules (what no caller may do at all, e.g. take the creator's role away).
Authentication failures do not come here at all: they are raised where credentials are checked.

Service functions call :func:`refuse` (or :func:`denied` where a refusal narrows an answer rather
than failing it) with the catalogue code and a reason. The HTTP layer opens one
:class:`RequestRefusals` per request (:func:`begin_request`, from the audit trail middleware),
which carries the mode and collects the request's refusals for the audit record. Outside a
request (the CLI, tests calling services directly) the mode is ``enforce``.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from . import metrics
from .errors import CATALOGUE, ApiError

ENFORCE = "enforce"
LOG = "log"
OFF = "off"
MODES: tuple[str, ...] = (ENFORCE, LOG, OFF)

log = logging.getLogger("devuc.auth")

_PLAIN = re.compile(r"[\w.:/@+-]*")


@dataclass(frozen=True)
class Refusal:
    code: str
    status: int
    reason: str
    enforced: bool  # False: let through by the ``log`` mode


@dataclass
class RequestRefusals:
    """The enforcement mode of one request and the refusals decided while answering it."""

    mode: str
    scope: dict = field(default_factory=dict)  # the ASGI scope: request id, principal, path
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def enforced(self) -> bool:
        return any(r.enforced for r in self.refusals)

    @property
    def let_through(self) -> bool:
        return any(not r.enforced for r in self.refusals)

    def summary(self, limit: int = 255) -> str:
        """The reasons, for the audit record (codes first, so a cut keeps them)."""
        return "; ".join(f"{r.code} {r.reason}" for r in self.refusals)[:limit]


_current: ContextVar[RequestRefusals | None] = ContextVar("devuc_authz", default=None)


def begin_request(mode: str, scope: dict | None = None) -> RequestRefusals:
    """Open the refusal record of the request now starting (in the current task's context)."""
    if mode not in MODES:
        raise ValueError(f"unknown enforcement mode {mode!r}; known: {', '.join(MODES)}")
    holder = RequestRefusals(mode, scope if scope is not None else {})
    _current.set(holder)
    return holder


def current_mode() -> str:
    holder = _current.get()
    return holder.mode if holder is not None else ENFORCE


def _value(value: Any) -> str:
    text = str(value)
    return text if _PLAIN.fullmatch(text) else repr(text)


def _log(verdict: str, code: str, reason: str, holder: RequestRefusals | None, context: dict) -> None:
    parts = [f"code={code}", f"reason={reason!r}"]
    if holder is not None:
        scope = holder.scope
        state = scope.get("state", {})
        who = state.get("principal")
        parts.append(f"request_id={state.get('request_id', '')}")
        if who is not None:
            context = {"account": who.account_id, "user": who.user_id, **context}
        if "method" in scope:
            context.setdefault("request", f"{scope['method']} {scope.get('path', '')}")
    parts += [f"{key}={_value(value)}" for key, value in context.items() if value is not None]
    # WARNING: refusals are what an operator looks for, and they show with no logging set up.
    log.warning("%s: %s", verdict, " ".join(parts))


def _note(code: str, reason: str, enforced: bool, holder: RequestRefusals | None, status: int | None = None) -> None:
    if holder is not None:
        holder.refusals.append(Refusal(code, status or CATALOGUE[code][0], reason, enforced))


def denied(code: str, reason: str, *, status: int | None = None, **context: Any) -> bool:
    """An authorization refusal (``code`` from the catalogue, ``reason`` for logs and the audit
    trail; never a secret). True when it stands (``enforce``): the caller must then refuse or
    narrow its answer. False when the mode lets the request through (``log``: logged and
    recorded first; ``off``: silently)."""
    holder = _current.get()
    mode = holder.mode if holder is not None else ENFORCE
    if mode == OFF:
        return False
    enforced = mode == ENFORCE
    metrics.decision("authorization", "denied" if enforced else "let_through")
    _log("authorization refused" if enforced else "authorization refusal let through (enforcement=log)",
         code, reason, holder, context)
    _note(code, reason, enforced, holder, status)
    return enforced


def refuse(code: str, reason: str, message: str | None = None, *, status: int | None = None,
           **context: Any) -> None:
    """Raise ``ApiError(code, message)`` when :func:`denied` says the refusal stands; return
    otherwise. ``message`` None: the catalogue's message; ``status`` None: the catalogue's
    status (a family whose pages give a refusal no code of its own answers 403 with its
    invalid-parameter code, spec/projectman.md Q9)."""
    if denied(code, reason, status=status, **context):
        raise ApiError(code, message, status=status)


def always(code: str, reason: str, message: str | None = None, **context: Any) -> ApiError:
    """A refusal no mode lifts (tenant isolation, integrity rules): logged, recorded, and
    returned for the caller to raise."""
    holder = _current.get()
    metrics.decision("authorization", "denied")
    _log("refused (in every enforcement mode)", code, reason, holder, context)
    _note(code, reason, True, holder)
    return ApiError(code, message)
