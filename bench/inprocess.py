"""Time devuc's hot routes in-process, without a server or a network: the cost of the
application itself per request, and where it goes.

    .venv/bin/python bench/inprocess.py                 # µs per request for each hot route
    .venv/bin/python bench/inprocess.py --profile perm_token   # and a cProfile of one of them

The password login ("login") is timed with its argon2 verify answered at once: what it measures is
the login's own work (statements, token, audit record), the part that runs on the event loop.
Its "loop CPU" column is the event-loop thread's CPU time per request (time.thread_time).

A small store is seeded with the harness's own seeding code (bench/seed.py); each request is a
real ASGI call of the app `devuc serve` runs, with the same principals rotation as bench/run.py.
This complements run.py (which measures through uvicorn and wrk); it is not a target in itself.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devuc.app import create_app  # noqa: E402
from devuc.config import Settings  # noqa: E402
from devuc.iam import passwords  # noqa: E402

import seed as seeding  # noqa: E402
import workload  # noqa: E402


def _scope(req) -> dict:
    path, _, query = req.path.partition("?")
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in req.headers.items()]
    if not any(name == b"host" for name, _ in headers):
        headers.insert(0, (b"host", b"127.0.0.1:8000"))
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": req.method, "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": query.encode(), "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
        "body": req.body.encode() if isinstance(req.body, str) else (req.body or b""),
    }


async def _call(app, scope: dict) -> int:
    scope = dict(scope)  # the app gets a scope of its own, without the request body kept in it
    body = scope.pop("body")
    status = 0

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _drive(app, scopes: list[dict], count: int, batches: int = 1) -> tuple[float, float]:
    """µs per request: wall time, and the event-loop thread's CPU time. With ``batches`` > 1,
    ``count`` requests are timed that many times and the fastest batch is reported: on a shared
    machine the best batch is the one the rest of the machine disturbed least."""
    for scope in scopes:  # warm every principal's cache entries
        await _answered(app, scope)
    n = len(scopes)
    best = (float("inf"), float("inf"))
    for _ in range(batches):
        started, cpu = time.perf_counter(), time.thread_time()
        for i in range(count):
            await _answered(app, scopes[i % n])
        timing = ((time.perf_counter() - started) / count * 1e6, (time.thread_time() - cpu) / count * 1e6)
        best = min(best, timing, key=lambda t: t[1])
    return best


async def _answered(app, scope: dict) -> None:
    """One call, which must succeed: a timing of error answers would mean nothing."""
    status = await _call(app, scope)
    if not 200 <= status < 300:
        raise SystemExit(f"{scope['path']} answered {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=1,
                        help="time --count requests this many times and report the fastest batch")
    parser.add_argument("--profile", help="scenario to profile (cProfile, top 30 by own time)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="devuc-inprocess-") as folder:
        settings = Settings.load(None, data_dir=Path(folder))
        seeded = seeding.seed(settings, args.scale, principals=200, log=lambda *a: None)
        app = create_app(settings)
        host = "127.0.0.1:8000"
        requests = {
            "health": workload.health(),
            "perm_token": workload.permission_by_token(seeded.members),
            "perm_signed": workload.permission_signed(seeded.members, host),
            "token_validate": workload.token_validation(seeded.members),
        }
        if seeded.owners:
            requests["vpceps"] = workload.vpcep_list(seeded.owners)
        requests["login"] = workload.password_login(seeded.members[:50])
        passwords._verify = lambda stored, password: True  # the argon2 verify, answered at once

        async def run() -> None:
            async with app.router.lifespan_context(app):
                for name, reqs in requests.items():
                    scopes = [_scope(r) for r in reqs]
                    count = args.count // 20 if name == "login" else args.count
                    if args.profile == name:
                        profiler = cProfile.Profile()
                        profiler.enable()
                        micros, cpu = await _drive(app, scopes, count)
                        profiler.disable()
                        pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "tottime")).print_stats(45)
                    else:
                        micros, cpu = await _drive(app, scopes, count, args.batches)
                    print(f"{name:16s} {micros:8.1f} µs per request, loop CPU {cpu:8.1f} µs")

        asyncio.run(run())
    os._exit(0)


if __name__ == "__main__":
    main()
