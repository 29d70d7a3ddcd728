"""argon2id in a process of its own, at a lower CPU priority, for serving workers.

A password check costs some 20-40 ms of CPU. On a thread of the worker, it competes for the
worker's GIL and for a core with the event loop, and every request queued behind the loop waits;
a thread cannot be given a lower priority either, because one descheduled while it holds the GIL
stalls the loop behind it. A child process shares no GIL: at a lower priority (nice 5 by default)
the kernel lets the event loops run first when they wake, and the child takes the rest of a core.

The protocol is one JSON object per line each way on the child's stdin and stdout:
``{"op": "verify", "hash": ..., "password": ...}`` -> ``{"ok": true}`` and
``{"op": "hash", "password": ...}`` -> ``{"hash": ...}``. One request is in flight at a time.
Passwords cross a pipe between the worker and its own child only; neither side logs them.

Run as ``python -m devuc.iam.hasher [nice]``; it imports argon2 and nothing of devuc's beyond
:mod:`devuc.iam.passwords`'s parameters.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

# How much lower than the worker the child runs (0-19). 5 is what measured best beside a
# saturated permission check (bench/README.md, "Password logins beside the load").
DEFAULT_NICE = 5
# A line longer than this is not one of ours (a password is at most a few KiB in JSON).
_MAX_LINE = 1 << 16


class HasherGone(RuntimeError):
    """The child exited (or answered garbage) and a restart did not help."""


class HashingProcess:
    """The parent's side: a child started on first use and restarted if it dies."""

    def __init__(self, nice: int = DEFAULT_NICE) -> None:
        self._nice = nice
        self._child: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def verify(self, password_hash: str, password: str) -> bool:
        answer = await self._ask({"op": "verify", "hash": password_hash, "password": password})
        return answer.get("ok") is True

    async def hash(self, password: str) -> str:
        answer = await self._ask({"op": "hash", "password": password})
        value = answer.get("hash")
        if not isinstance(value, str):
            raise HasherGone("the hashing process gave no hash")
        return value

    async def close(self) -> None:
        child, self._child = self._child, None
        if child is None or child.returncode is not None:
            return
        assert child.stdin is not None
        child.stdin.close()  # the child stops at end of input
        try:
            await asyncio.wait_for(child.wait(), 2)
        except asyncio.TimeoutError:
            child.kill()
            await child.wait()

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    async def _ask(self, request: dict) -> dict:
        line = json.dumps(request).encode() + b"\n"
        async with self._lock:
            for attempt in range(2):
                child = await self._running()
                try:
                    assert child.stdin is not None and child.stdout is not None
                    child.stdin.write(line)
                    await child.stdin.drain()
                    answer = await child.stdout.readline()
                    if answer.endswith(b"\n"):
                        return json.loads(answer)
                except (OSError, ValueError):  # a broken pipe, or not JSON
                    pass
                await self._discard(child)  # it died mid-request: start a fresh one, once
            raise HasherGone("the hashing process exited twice in a row")

    async def _running(self) -> asyncio.subprocess.Process:
        if self._child is None or self._child.returncode is not None:
            self._child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "devuc.iam.hasher", str(self._nice),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                limit=_MAX_LINE,
            )
        return self._child

    async def _discard(self, child: asyncio.subprocess.Process) -> None:
        if child.returncode is None:
            child.kill()
        await child.wait()
        if self._child is child:
            self._child = None


def _serve(nice: int) -> None:
    """The child: answer requests from stdin until it closes."""
    if nice:
        os.nice(nice)
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    from .passwords import HASHER

    for raw in sys.stdin.buffer:
        request = json.loads(raw)
        if request["op"] == "verify":
            try:
                answer: dict = {"ok": HASHER.verify(request["hash"], request["password"])}
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                answer = {"ok": False}
        else:
            answer = {"hash": HASHER.hash(request["password"])}
        sys.stdout.buffer.write(json.dumps(answer).encode() + b"\n")
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_NICE)
