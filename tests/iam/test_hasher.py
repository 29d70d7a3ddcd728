"""Serving workers check passwords in a child process at a lower CPU priority
(devuc/iam/hasher.py): it answers like the in-process hasher, comes back after being killed, and
never outlives its worker."""

import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from devuc.iam import passwords
from devuc.iam.hasher import DEFAULT_NICE, HashingProcess
from support import password_body, start_server

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _nice_of(pid: int) -> int:
    # /proc/PID/stat: the 19th field is the nice value (after the parenthesised command name).
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _hashers_under(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            todo.append(pid)
            try:
                if b"devuc.iam.hasher" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                pass
    return found


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state == "Z"  # exited, not yet reaped by its parent


async def test_answers_like_the_thread_and_runs_at_a_lower_priority():
    process = HashingProcess()
    try:
        stored = await process.hash("Right-Pass-1")
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert await process.verify(stored, "Right-Pass-1") is True
        assert await process.verify(stored, "Wrong-Pass-1") is False
        assert await process.verify("not a hash", "Right-Pass-1") is False
        # The thread path accepts what the child made, and the other way round.
        assert await passwords.verify_password(stored, "Right-Pass-1") is True
        assert await process.verify(await passwords.hash_password("Other-Pass-2"), "Other-Pass-2")
        assert process.pid is not None
        assert _nice_of(process.pid) == _nice_of(os.getpid()) + DEFAULT_NICE
    finally:
        await process.close()


async def test_a_killed_child_is_replaced_and_close_leaves_none():
    process = HashingProcess()
    stored = await process.hash("Right-Pass-1")
    first = process.pid
    os.kill(first, signal.SIGKILL)
    assert await process.verify(stored, "Right-Pass-1") is True
    second = process.pid
    assert second != first
    await process.close()
    assert process.pid is None
    assert _gone(second)


async def test_passwords_module_switches_to_the_process_and_back():
    process = passwords.use_hashing_process()
    try:
        stored = await passwords.hash_password("Right-Pass-1")
        assert process.pid is not None  # the child did the work
        assert await passwords.verify_password(stored, "Right-Pass-1") is True
        assert await passwords.verify_password(None, "Right-Pass-1") is False  # unknown user
    finally:
        await passwords.stop_hashing_process()
    assert _gone(process.pid) if process.pid else True
    assert passwords._process is None


def test_served_workers_hash_in_a_child_that_goes_with_them(tmp_path):
    server = start_server(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'devuc.db'}",
                          args=("--workers", "2"))
    try:
        acct = server.bootstrap()
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            for _ in range(4):  # the kernel spreads connections over both workers
                body = password_body(acct["user_name"], acct["password"], acct["account_name"])
                with httpx.Client(base_url=server.base_url, timeout=30) as fresh:
                    assert fresh.post("/v3/auth/tokens", json=body).status_code == 201
            wrong = password_body(acct["user_name"], "Wrong-Pass-1", acct["account_name"])
            assert client.post("/v3/auth/tokens", json=wrong).status_code == 401
        hashers = _hashers_under(server.process.pid)
        assert hashers, "no hashing process under the server"
        assert all(_nice_of(pid) == _nice_of(server.process.pid) + DEFAULT_NICE for pid in hashers)
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in hashers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in hashers), "a hashing process outlived its server"
