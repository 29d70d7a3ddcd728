"""wrk as the load generator: a generated Lua script cycles through precomputed requests, counts
every response status, and prints one JSON line with the numbers when the run ends."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

WRK = shutil.which("wrk") or "/usr/bin/wrk"
MARKER = "WRKJSON "


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


def _lua_string(value: str) -> str:
    """A Lua string literal for any text (bytes outside printable ASCII as decimal escapes)."""
    out = []
    for byte in value.encode():
        ch = chr(byte)
        if 32 <= byte < 127 and ch not in '"\\':
            out.append(ch)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _lua_request(req: Req) -> str:
    headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in req.headers.items())
    body = _lua_string(req.body) if req.body is not None else "nil"
    return f"  {{{_lua_string(req.method)}, {_lua_string(req.path)}, {{{headers}}}, {body}}},"


LUA_RUNTIME = r"""
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  prepared = {}
  for i, r in ipairs(REQUESTS) do
    prepared[i] = wrk.format(r[1], r[2], r[3], r[4])
  end
  -- Threads start at different places in the list.
  position = (thread_id * 7919) % #prepared
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local function json_statuses()
  local total = {}
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      total[code] = (total[code] or 0) + count
    end
  end
  local parts = {}
  for code, count in pairs(total) do
    table.insert(parts, string.format('"%d": %d', code, count))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}, ' ..
    '"statuses": %s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), json_statuses()))
end
"""


def write_script(requests: list[Req], directory: Path) -> Path:
    if not requests:
        raise ValueError("no requests to send")
    lines = ["REQUESTS = {", *(_lua_request(r) for r in requests), "}", LUA_RUNTIME]
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", dir=directory, delete=False)
    with handle:
        handle.write("\n".join(lines))
    return Path(handle.name)


@dataclass
class WrkResult:
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    statuses: dict[str, int]
    raw: dict
    midway: object = None

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    @property
    def all_not_found(self) -> bool:
        """Every response was 404 or 405: the route does not exist on this server."""
        answered = sum(self.statuses.values())
        return answered > 0 and sum(self.statuses.get(c, 0) for c in ("404", "405")) == answered

    def as_dict(self) -> dict:
        return {
            "connections": self.connections,
            "duration_s": round(self.duration_s, 2),
            "requests": self.requests,
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "errors": self.errors,
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "statuses": self.statuses,
            **({"connections_per_worker": self.midway} if self.midway is not None else {}),
        }


def run(base_url: str, script: Path, *, connections: int, duration: float, threads: int,
        timeout_s: float = 10.0, midway: Callable[[], object] | None = None) -> WrkResult:
    """``midway``: called once halfway through the run (e.g. to see how the server's workers
    share wrk's connections); what it returns is kept as ``WrkResult.midway``."""
    threads = max(1, min(threads, connections))
    run_seconds = max(1, round(duration))
    argv = [WRK, f"-t{threads}", f"-c{connections}", f"-d{run_seconds}s",
            f"--timeout={max(1, round(timeout_s))}s", "-s", str(script), base_url]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as wrk:
        seen = None
        if midway is not None:
            time.sleep(run_seconds / 2)
            seen = midway()
        try:
            stdout, stderr = wrk.communicate(timeout=duration + timeout_s + 60)
        except subprocess.TimeoutExpired:
            wrk.kill()
            raise RuntimeError("wrk did not finish in time") from None
    line = next((l for l in stdout.splitlines() if l.startswith(MARKER)), None)
    if wrk.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({wrk.returncode}): {stderr.strip() or stdout[-2000:]}")
    raw = json.loads(line[len(MARKER):])
    seconds = raw["duration_us"] / 1e6
    statuses = {str(k): v for k, v in sorted(raw["statuses"].items())}
    non_2xx = sum(v for k, v in statuses.items() if not k.startswith("2"))
    e = raw["errors"]
    socket_errors = e["connect"] + e["read"] + e["write"] + e["timeout"]
    lat = raw["latency_us"]
    return WrkResult(
        connections=connections,
        duration_s=seconds,
        requests=raw["requests"],
        rps=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=round(lat["p50"] / 1000, 2),
        p90_ms=round(lat["p90"] / 1000, 2),
        p99_ms=round(lat["p99"] / 1000, 2),
        max_ms=round(lat["max"] / 1000, 2),
        non_2xx=non_2xx,
        socket_errors=socket_errors,
        statuses=statuses,
        raw=raw,
        midway=seen,
    )
