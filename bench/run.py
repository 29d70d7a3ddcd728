#!/usr/bin/env python3
"""devuc's benchmark harness (tracker issue 7).

Seeds a fresh store, starts `devuc serve` with production settings on 127.0.0.1, drives it with wrk
and reports rps, p50, p99 and errors per scenario and concurrency, the RSS of each worker, the bare
ASGI ceiling measured in the same run, and the targets as pass/fail.

    .venv/bin/python bench/run.py                     # default scale, SQLite
    .venv/bin/python bench/run.py --scale 0.1 --duration 2
    .venv/bin/python bench/run.py --compare-scale     # default scale and --scale 10
    .venv/bin/python bench/run.py --database-url postgresql+asyncpg://postgres@127.0.0.1/test
    .venv/bin/python bench/run.py --against-keystone

See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
import seed as seeding  # noqa: E402
import workload  # noqa: E402

REPO = HERE.parent
SERVERS = ["uvicorn"]  # granian is offered once it is installed and devuc can be served by it


def log(message: str) -> None:
    print(message, flush=True)


# --- the machine --------------------------------------------------------------------------------

def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "loadavg_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "other_busy_processes": busy_processes(),
        "python": platform.python_version(),
    }


def busy_processes(window: float = 1.0, threshold: float = 0.05) -> str:
    """Processes other than this one using more than ``threshold`` of a core over ``window``."""
    def sample() -> dict[int, tuple[float, str]]:
        out = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat.rsplit(")", 1)[1].split()
                out[int(entry)] = ((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), name)
        return out

    before = sample()
    time.sleep(window)
    after = sample()
    busy = []
    for pid, (cpu, name) in after.items():
        if pid == os.getpid() or pid not in before:
            continue
        share = (cpu - before[pid][0]) / window
        if share >= threshold:
            busy.append(f"{name}[{pid}] {share:.0%}")
    return ", ".join(busy)


def git_state() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"],
                               capture_output=True, text=True).stdout.strip()
        return head + (" (src/ has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def code_fingerprint() -> str:
    """A digest of the service's source as it is on disk now: other people may be changing it
    while a run goes on, and a server started later would run different code."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((REPO / "src").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def versions() -> dict:
    from importlib.metadata import version

    out = {}
    for name in ("devuc", "uvicorn", "fastapi", "starlette", "sqlalchemy", "aiosqlite", "asyncpg",
                 "pynacl", "huaweicloudsdkcore"):
        try:
            out[name] = version(name)
        except Exception:
            out[name] = None
    wrk = subprocess.run([loadgen.WRK, "-v"], capture_output=True, text=True)
    out["wrk"] = (wrk.stdout or wrk.stderr).split("[")[0].replace("wrk", "").strip()
    return out


# --- password hashing ---------------------------------------------------------------------------

def hashing() -> dict:
    """The argon2 parameters devuc hashes with, read from devuc.iam.passwords, against OWASP; one
    verify timed with devuc's own code and, beside it, one at OWASP's 19 MiB/2 reference row."""
    import nacl.pwhash.argon2id as argon2id

    from devuc.iam import passwords

    def verify_ms(stored: str) -> float:
        began = time.perf_counter()
        assert passwords._verify(stored, seeding.PASSWORD)
        return (time.perf_counter() - began) * 1000

    reference = argon2id.str(seeding.PASSWORD.encode(), opslimit=2, memlimit=19456 * 1024).decode()
    return {
        "type": passwords.ALGORITHM,
        "memory_kib": passwords.MEMORY_KIB,
        "time_cost": passwords.TIME_COST,
        "parallelism": passwords.PARALLELISM,
        "verify_ms": round(verify_ms(passwords._hash(seeding.PASSWORD)), 1),
        "owasp_reference_verify_ms": round(verify_ms(reference), 1),
        "meets_owasp": report.owasp_verdict(passwords.MEMORY_KIB, passwords.TIME_COST,
                                            passwords.PARALLELISM, passwords.ALGORITHM == "argon2id"),
    }


# --- databases ----------------------------------------------------------------------------------

class Databases:
    """A fresh PostgreSQL database per phase (dropped at the end), or nothing to do for SQLite."""

    def __init__(self, admin_url: str | None) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def fresh(self, tag: str) -> str | None:
        if not self.admin_url:
            return None
        from sqlalchemy.engine import make_url

        name = f"devuc_bench_{tag}_{os.getpid()}"
        self._admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.created:
            try:
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:
                log(f"warning: could not drop database {name}: {exc}")
        self.created.clear()

    def _admin(self, *statements: str) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        async def run() -> None:
            engine = create_async_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            try:
                async with engine.connect() as conn:
                    for statement in statements:
                        await conn.exec_driver_sql(statement)
            finally:
                await engine.dispose()

        asyncio.run(run())


# --- measuring ----------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.connections = args.connections

    def server_env(self) -> dict[str, str]:
        # Production settings: devuc's defaults, nothing from this shell's DEVUC_* variables.
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVUC_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def smoke(self, port: int, req: loadgen.Req) -> dict:
        try:
            status, body = procs.request(port, req.method, req.path, req.headers,
                                         req.body.encode() if req.body is not None else None, timeout=60)
        except OSError as exc:
            return {"status": None, "error": str(exc)}
        out = {"status": status}
        if not 200 <= status < 300:
            out["body"] = body[:300].decode(errors="replace")
        return out

    def measure(self, title: str, server: procs.Server, make_requests, *, slow: bool = False) -> dict:
        """Run wrk at each concurrency (after a warm-up) with requests from ``make_requests()``."""
        requests = make_requests()
        smoke = self.smoke(server.port, requests[0])
        by_connections, results = {}, []
        timeout = 60.0 if slow else 10.0
        duration = max(self.args.duration, self.args.login_duration) if slow else self.args.duration
        for conns in self.connections:
            wait_idle(server)
            requests = make_requests()  # fresh, for signatures with a fresh date
            script = loadgen.write_script(requests, self.workdir)
            if self.args.warmup > 0:
                loadgen.run(server.base_url, script, connections=conns, duration=self.args.warmup,
                            threads=self.args.wrk_threads, timeout_s=timeout)
                wait_idle(server)
            rounds = []
            for number in range(1, self.args.rounds + 1):
                if number > 1:
                    wait_idle(server)
                with procs.CpuShare(server) as cpu:
                    result = loadgen.run(server.base_url, script, connections=conns,
                                         duration=duration, threads=self.args.wrk_threads,
                                         timeout_s=timeout, midway=server.connection_split)
                results.append(result)
                rounds.append({**result.as_dict(), "cpu": cpu.as_dict()})
                odd = report.status_summary(result.as_dict())
                label = f"{title} ({number}/{self.args.rounds})" if self.args.rounds > 1 else title
                log(f"  {label:<40} c={conns:<3} {result.rps:>9,.1f} rps  p50 {result.p50_ms:>7.2f} ms  "
                    f"p99 {result.p99_ms:>8.2f} ms  errors {result.errors}  "
                    f"[other load {cpu.as_dict()['other_cores']:.2f} cores{_split(result)}]"
                    f"{'  (' + odd + ')' if odd else ''}")
            by_connections[str(conns)] = combined = report.combine_rounds(rounds)
            if len(rounds) > 1:
                log(f"  {title + ' (median)':<40} c={conns:<3} {combined['rps']:>9,.1f} rps  "
                    f"p50 {combined['p50_ms']:>7.2f} ms  p99 {combined['p99_ms']:>8.2f} ms")
        answered = [r for r in results if r.statuses]
        if answered and all(r.all_not_found for r in answered):
            return {"status": "not available", "by_connections": by_connections, "smoke": smoke,
                    "reason": f"the route answered 404/405 to every request "
                              f"(first answer: {smoke.get('body', '')[:160]})"}
        return {"status": "ok", "by_connections": by_connections, "smoke": smoke}

    # -- the ceiling

    def ceiling(self) -> dict:
        log("bare ASGI ceiling (bench/bare_asgi.py on uvicorn, with devuc's event loop and HTTP protocol)")
        port = procs.free_port()
        server = procs.Server(
            "bare_asgi",
            [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "bare_asgi:app", "--host", procs.HOST,
             "--port", str(port), "--workers", str(self.args.workers), "--log-level", "warning",
             "--no-access-log", "--no-server-header",
             # the event loop `devuc serve` runs (uvloop, connections shared out between workers)
             "--loop", "devuc.serving:new_event_loop",
             # and its HTTP protocol (uvicorn's, with an answer's writes coalesced: proxy_protocol.py)
             "--http", "devuc.proxy_protocol:ProxyProtocolHttp"],
            port, self.workdir / "bare_asgi.log", env=self.server_env(),
        ).start("/")
        try:
            result = self.measure(workload.BARE.title, server, workload.bare)
            result["memory"] = server.memory()
            return result
        finally:
            server.stop()

    # -- one devuc phase

    def phase(self, scale: float, databases: Databases) -> dict:
        from devuc.config import Settings

        log(f"devuc at scale {scale:g}")
        data_dir = self.workdir / f"devuc-scale-{scale:g}"
        database_url = databases.fresh(f"s{str(scale).replace('.', '_')}")
        settings = Settings(data_dir=data_dir, database_url=database_url)
        seeded = seeding.seed(settings, scale, principals=self.args.principals, log=log)
        c = seeded.counts
        log(f"  seeded {c['accounts']:,} accounts, {c['users']:,} users, {c['codearts_projects']:,} "
            f"CodeArts projects, {c['memberships']:,} memberships in {seeded.seconds:.1f} s")
        if seeded.tables_missing:
            log(f"  tables not in this checkout (skipped): {', '.join(seeded.tables_missing)}")

        port = procs.free_port()
        argv = [sys.executable, "-m", "devuc.cli", "serve", "--host", procs.HOST, "--port", str(port),
                "--workers", str(self.args.workers), "--data-dir", str(data_dir)]
        if database_url:
            argv += ["--database-url", database_url]
        code = {"git": git_state(), "src_fingerprint": code_fingerprint()}
        server = procs.Server("devuc", argv, port, self.workdir / f"devuc-scale-{scale:g}.log",
                              env=self.server_env(), cwd=str(self.workdir)).start("/health")
        result: dict = {"scale": scale, "code": code, "seed": seeded.summary(),
                        "database": "postgresql" if database_url else "sqlite", "scenarios": {}}
        try:
            wanted = self.args.only or list(workload.SCENARIOS)
            host = f"{procs.HOST}:{port}"
            builders = {
                "health": (workload.health, None),
                "perm_token": (lambda: workload.permission_by_token(seeded.members),
                               _need_codearts(seeded)),
                "perm_signed": (lambda: workload.permission_signed(
                    [m for m in seeded.members if m.access], host), _need_codearts(seeded)),
                "token_validate": (lambda: workload.token_validation(seeded.members),
                                   None if seeded.members else "no principals were seeded"),
                "vpceps": (lambda: workload.vpcep_list(seeded.owners),
                           None if seeded.owners else
                           "no VPC endpoint records could be seeded (vpcep_records table missing)"),
                "login": (lambda: workload.password_login(seeded.logins), None),
            }
            # Reads first; then what hashes passwords (argon2id's 64 MiB per check raises RSS).
            reads = [n for n in wanted if n != "login"]
            for name in reads:
                self.scenario(result, server, name, *builders[name])
            result["memory_after_reads"] = server.memory()
            if self.args.login_rate > 0 and result["scenarios"].get("perm_token", {}).get("status") == "ok":
                result["with_logins"] = self.with_logins(server, seeded)
            if "login" in wanted:
                self.scenario(result, server, "login", *builders["login"])
            result["memory"] = server.memory()
            log(f"  RSS per worker: {[w['rss_mib'] for w in result['memory_after_reads']['workers']]} MiB "
                f"after the reads, {[w['rss_mib'] for w in result['memory']['workers']]} MiB at the end")
        finally:
            server.stop()
        return result

    def scenario(self, result: dict, server: procs.Server, name: str, make, skip: str | None) -> None:
        title = workload.SCENARIOS[name].title
        if skip:
            result["scenarios"][name] = {"status": "skipped", "reason": skip}
            log(f"  {title}: skipped ({skip})")
            return
        result["scenarios"][name] = self.measure(title, server, make, slow=name == "login")

    def with_logins(self, server: procs.Server, seeded: seeding.Seeded) -> dict:
        """The token permission check at the highest concurrency while password logins run at a
        fixed rate beside it, against the same check without them: ``--login-rounds`` rounds, each
        an idle measurement then one with logins, so both sides of the ratio are taken close in
        time; the target compares the medians (a shared machine's p99 swings from one
        measurement to the next)."""
        conns = self.connections[-1]
        if not seeded.logins:
            return {"status": "skipped", "reason": "no login users were seeded"}
        script = loadgen.write_script(workload.permission_by_token(seeded.members), self.workdir)
        logins = workload.password_login(seeded.logins)
        title = f"perm. check, token + {self.args.login_rate:g} logins/s"
        rounds = []
        for number in range(1, self.args.login_rounds + 1):
            wait_idle(server)
            with procs.CpuShare(server) as cpu:
                idle = loadgen.run(server.base_url, script, connections=conns,
                                   duration=self.args.duration, threads=self.args.wrk_threads,
                                   midway=server.connection_split)
            wait_idle(server)
            with workload.PacedRequests(server.port, logins, self.args.login_rate) as paced:
                time.sleep(1.0)  # let the logins reach their pace first
                with procs.CpuShare(server) as loaded_cpu:
                    loaded = loadgen.run(server.base_url, script, connections=conns,
                                         duration=self.args.duration, threads=self.args.wrk_threads,
                                         midway=server.connection_split)
            summary = paced.summary()
            rounds.append({"idle": {**idle.as_dict(), "cpu": cpu.as_dict()},
                           "loaded": {**loaded.as_dict(), "cpu": loaded_cpu.as_dict()},
                           "logins": summary})
            log(f"  round {number}: idle p99 {idle.p99_ms:.2f} ms ({idle.rps:,.1f} rps){_split(idle)}; "
                f"{title}: p99 {loaded.p99_ms:.2f} ms ({loaded.rps:,.1f} rps, logins "
                f"{summary['achieved_per_s']}/s, {summary['ok']} ok, p50 {summary['p50_ms']} ms)"
                f"{_split(loaded)}")
        middle = sorted(rounds, key=lambda r: r["loaded"]["p99_ms"])[len(rounds) // 2]
        return {
            "status": "ok",
            "idle_p99_ms": statistics.median(r["idle"]["p99_ms"] for r in rounds),
            "loaded_p99_ms": statistics.median(r["loaded"]["p99_ms"] for r in rounds),
            "rounds": rounds,
            # the round with the median loaded p99, for the table
            "wrk": middle["loaded"], "logins": middle["logins"],
        }

    # -- keystone

    def keystone(self) -> dict:
        import keystone_bench

        log("OpenStack Keystone")
        try:
            ks_versions = keystone_bench.install(log)
        except keystone_bench.KeystoneUnavailable as exc:
            log(f"  keystone unavailable: {exc}")
            return {"status": "unavailable", "reason": str(exc)}
        try:
            ks = keystone_bench.start(self.workdir / "keystone", self.args.workers, log,
                                      cache=self.args.keystone_cache)
        except (keystone_bench.KeystoneUnavailable, RuntimeError) as exc:
            log(f"  keystone did not start: {exc}")
            return {"status": "unavailable", "reason": str(exc), "versions": ks_versions}
        try:
            scenarios = {
                "token_validate": self.measure("keystone token validation", ks.server,
                                               lambda: keystone_bench.validation_requests(ks.token)),
                "login": self.measure("keystone password login", ks.server,
                                      keystone_bench.login_requests, slow=True),
            }
            memory = ks.server.memory()
        finally:
            ks.server.stop()
        return {"status": "ok", "versions": ks_versions, "password_hash": ks.password_hash,
                "cache": self.args.keystone_cache,
                "scenarios": scenarios, "memory": memory}


def _need_codearts(seeded: seeding.Seeded) -> str | None:
    if not seeded.codearts:
        return ("the CodeArts tables are not in this checkout: "
                + ", ".join(n for n in seeded.tables_missing if n.startswith("codearts")))
    if not seeded.members:
        return "no member with an access key was seeded"
    return None


def wait_idle(server: procs.Server, timeout: float = 60.0, interval: float = 0.5) -> None:
    """Wait until the server's processes use under a tenth of a core (e.g. after a login run,
    whose password checks go on after wrk has closed its connections)."""
    def cpu() -> float:
        return procs.tree_cpu_seconds(server.process.pid)

    deadline = time.monotonic() + timeout
    last = cpu()
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = cpu()
        if now - last < 0.1 * interval:
            return
        last = now


# --- the command --------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="devuc benchmark harness (see bench/README.md)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="store size: 1 = 100 accounts, 10,000 users, 2,000 CodeArts projects, "
                        "100,000 memberships; 10 = ten times that; 0.1 for a quick try")
    p.add_argument("--compare-scale", action="store_true",
                   help="measure at the default scale and at --scale 10 in one run")
    p.add_argument("--baseline", type=Path,
                   help="a default-scale result JSON to judge a --scale 10 run against")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    p.add_argument("--login-duration", type=float, default=10.0,
                   help="seconds per password-login measurement (default 10: each login costs "
                        "hundreds of milliseconds of CPU, a short run completes few)")
    # Each worker must have met every one of the rotating principals once before the numbers
    # count (a first request per principal and worker fills that worker's caches): 1 s did not
    # reach them all at 8 connections, and the cold misses showed as rps and p99 of that row.
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up before each (default 3)")
    p.add_argument("--connections", default="8,32", help="comma-separated wrk connection counts")
    p.add_argument("--rounds", type=int, default=3,
                   help="wrk rounds per scenario and connection count, back to back after one "
                        "warm-up; rps, p50 and p99 are their medians (default 3)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="server worker processes (default: one per core)")
    p.add_argument("--wrk-threads", type=int, default=1,
                   help="wrk threads (default 1: leaves the cores to the server)")
    p.add_argument("--server", choices=SERVERS, default="uvicorn")
    p.add_argument("--database-url",
                   help="PostgreSQL server to use, e.g. postgresql+asyncpg://postgres@127.0.0.1/test: "
                        "a fresh database is created on it for each phase and dropped afterwards")
    p.add_argument("--principals", type=int, default=1000,
                   help="distinct users (tokens, access keys) the requests rotate through")
    p.add_argument("--login-rounds", type=int, default=3,
                   help="rounds of (idle, with logins) measurements behind the logins target; "
                        "the target compares the medians (default 3)")
    p.add_argument("--login-rate", type=float, default=10.0,
                   help="password logins per second beside the token permission check (0: skip)")
    p.add_argument("--only", help=f"comma-separated scenarios: {', '.join(workload.SCENARIOS)}")
    p.add_argument("--no-ceiling", action="store_true", help="skip the bare ASGI measurement")
    p.add_argument("--against-keystone", action="store_true",
                   help="also install (once) and measure OpenStack Keystone")
    p.add_argument("--keystone-cache", action="store_true",
                   help="turn on Keystone's own token/identity cache (in-process dogpile memory backend)")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument("--keep-data", action="store_true", help="keep the seeded data and server logs")
    args = p.parse_args(argv)
    args.connections = sorted({int(c) for c in args.connections.split(",") if c.strip()})
    if args.only:
        args.only = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = set(args.only) - set(workload.SCENARIOS)
        if unknown:
            p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.compare_scale and args.scale not in (1, 10):
        p.error("--compare-scale measures scales 1 and 10; leave --scale out")
    if args.baseline and not args.baseline.exists():
        p.error(f"no such file: {args.baseline}")
    if args.login_rounds < 1:
        p.error("--login-rounds must be at least 1")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def _stop_on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _split(result: loadgen.WrkResult) -> str:
    return f", connections per worker {'/'.join(map(str, result.midway))}" if result.midway else ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(loadgen.WRK).exists():
        log("wrk is not installed (apt-get install wrk)")
        return 2
    # Ctrl-C even when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGHUP, _stop_on_signal)
    started = datetime.now(timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(tempfile.mkdtemp(prefix=f"devuc-bench-{stamp}-"))
    databases = Databases(args.database_url)
    scales = [1.0, 10.0] if args.compare_scale else [args.scale]
    log(f"devuc benchmark {stamp}: scales {', '.join(f'{s:g}' for s in scales)}, "
        f"{args.workers} workers, {args.duration:g} s per measurement, work folder {workdir}")
    run: dict = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, "bench/run.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "versions": versions(),
        "git": git_state(),
        "options": {
            "scales": scales, "duration": args.duration, "warmup": args.warmup,
            "login_duration": args.login_duration, "connections": args.connections,
            "workers": args.workers, "wrk_threads": args.wrk_threads, "rounds": args.rounds,
            "server": args.server, "database": "postgresql" if args.database_url else "sqlite",
            "principals": args.principals, "login_rate": args.login_rate,
            "login_rounds": args.login_rounds,
        },
        "phases": [],
    }
    status = 0
    try:
        run["hashing"] = hashing()
        bench = Bench(args, workdir)
        if not args.no_ceiling:
            run["ceiling"] = bench.ceiling()
        for scale in scales:
            run["phases"].append(bench.phase(scale, databases))
        if not args.no_ceiling:  # again: the ratios use the mean of both (report.bare_ceiling)
            run["ceiling_end"] = bench.ceiling()
        if args.against_keystone:
            run["keystone"] = bench.keystone()
    except KeyboardInterrupt as exc:
        log(f"interrupted ({str(exc) or 'Ctrl-C'}): stopping every server; partial results follow")
        run["interrupted"] = True
        status = 130
    except Exception as exc:
        log(f"error: {type(exc).__name__}: {exc}")
        run["error"] = f"{type(exc).__name__}: {exc}"
        status = 1
    finally:
        procs.stop_all()
        databases.drop_all()
    run["machine"]["loadavg_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    run["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    run["targets"] = report.evaluate(run, baseline) if run["phases"] else []
    text = report.markdown(run)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.results_dir / f"{stamp}.json"
    md_path = args.results_dir / f"{stamp}.md"
    json_path.write_text(json.dumps(run, indent=2) + "\n")
    md_path.write_text(text)
    log("")
    log(text)
    log(f"results: {json_path.relative_to(REPO) if json_path.is_relative_to(REPO) else json_path} and "
        f"{md_path.name}")
    if args.keep_data:
        log(f"seeded data and server logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
