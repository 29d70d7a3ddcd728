"""Server processes for the benchmark: start one on 127.0.0.1, wait until it answers, measure the
memory of its workers, and stop it (and everything it started) whatever happens."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"

# Every process started here, so that an error or Ctrl-C anywhere still stops them all.
_RUNNING: list[Server] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] | None = None
    cwd: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, ready_path: str = "/", timeout: float = 120.0) -> Server:
        log = open(self.log_path, "ab")
        # A new session: the server and its workers form one process group, stopped together.
        self.process = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.env, cwd=self.cwd, start_new_session=True,
        )
        log.close()
        _RUNNING.append(self)
        self._wait_ready(ready_path, timeout)
        return self

    def _wait_ready(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode} before it "
                                   f"was ready; its log:\n{self.log_tail()}")
            try:
                status, _ = get(self.port, path, timeout=2)
                if status < 500:
                    # All workers up: the supervisor has started its worker processes.
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {path} within {timeout:.0f} s; its log:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def workers(self) -> list[int]:
        """Process ids of the processes serving requests: the children of the supervisor (or the
        supervisor itself when it has none), less multiprocessing's helper processes."""
        if self.process is None or self.process.poll() is not None:
            return []
        kids = [pid for pid in descendants(self.process.pid)
                if "resource_tracker" not in cmdline(pid) and "semaphore_tracker" not in cmdline(pid)]
        direct = [pid for pid in kids if parent(pid) == self.process.pid]
        return direct or [self.process.pid]

    def connection_split(self) -> list[int]:
        """How many established connections to the server's port each worker holds now (read
        from /proc): the kernel hands wrk's connections to whichever worker accepts first, and an
        uneven split leaves one worker short of work while the other is saturated."""
        return connection_split(self.workers(), self.port)

    def memory(self) -> dict:
        """RSS (and PSS) of each worker, in MiB, read from /proc."""
        per_worker = [dict(pid=pid, **memory_of(pid)) for pid in self.workers()]
        supervisor = memory_of(self.process.pid) if self.process else {}
        rss = [w["rss_mib"] for w in per_worker if w.get("rss_mib") is not None]
        return {
            "workers": per_worker,
            "supervisor": supervisor,
            "max_worker_rss_mib": max(rss) if rss else None,
            "mean_worker_rss_mib": round(sum(rss) / len(rss), 1) if rss else None,
        }

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    _signal_group(self.process.pid, signal.SIGKILL)
                    self.process.wait(5)
        # Workers that outlived their supervisor belong to the same group.
        _signal_group(self.process.pid, signal.SIGKILL)
        if self in _RUNNING:
            _RUNNING.remove(self)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all() -> None:
    for server in list(reversed(_RUNNING)):
        try:
            server.stop()
        except Exception as exc:  # keep stopping the others
            print(f"warning: could not stop {server.name}: {exc}")


def get(port: int, path: str, headers: dict | None = None, timeout: float = 10) -> tuple[int, bytes]:
    return request(port, "GET", path, headers=headers, timeout=timeout)


def request(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None,
            timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- /proc ------------------------------------------------------------------------------------

def parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = parent(int(entry))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def connection_split(pids: list[int], port: int) -> list[int]:
    """For each process, how many established TCP connections on local ``port`` it holds."""
    established = _established_inodes(port)
    return [len(_socket_inodes(pid) & established) for pid in pids]


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of the established TCP connections whose local port is ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                found.add(fields[9])
    return found


def memory_of(pid: int) -> dict:
    out: dict = {"rss_mib": None, "pss_mib": None}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mib"] = round(int(line.split()[1]) / 1024, 1)
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss_mib"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


# --- who used the CPU during a measurement -------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, IndexError):
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _TICK


class CpuShare:
    """How many cores the server, the load generator (wrk, a reaped child), this harness and
    everything else used during a measurement: the last one says how disturbed it was."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def _sample(self) -> tuple[float, float, float, float, float]:
        import resource

        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        return (time.monotonic(), machine_busy_seconds(), tree_cpu_seconds(self.server.process.pid),
                children.ru_utime + children.ru_stime, me.ru_utime + me.ru_stime)

    def __enter__(self) -> CpuShare:
        self.before = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        self.after = self._sample()

    def as_dict(self) -> dict:
        wall, busy, server, wrk, me = (a - b for a, b in zip(self.after, self.before))
        wall = max(wall, 1e-9)
        others = max(0.0, busy - server - wrk - me)
        return {"server_cores": round(server / wall, 2), "wrk_cores": round(wrk / wall, 2),
                "harness_cores": round(me / wall, 2), "other_cores": round(others / wall, 2)}
