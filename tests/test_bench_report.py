"""The benchmark harness's verdicts (bench/report.py): the bare ceiling the ratios use and the
logins target judged from rounds. The harness itself needs wrk and minutes; its arithmetic does
not."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import report  # noqa: E402


def _measured(**rps_by_conns: float) -> dict:
    return {"status": "ok", "by_connections": {c[1:]: {"rps": v, "p99_ms": 1.0}
                                                for c, v in rps_by_conns.items()}}


def _wrk(p99: float) -> dict:
    return {"p99_ms": p99, "rps": 1000.0}


def _logins(achieved: float = 10.0) -> dict:
    return {"achieved_per_s": achieved, "target_per_s": 10.0, "ok": 60, "p50_ms": 50.0}


def _run(*, ceiling_end: dict | None = None, with_logins: dict | None = None) -> dict:
    run = {
        "options": {"connections": [8, 32]},
        "ceiling": _measured(c8=40_000, c32=50_000),
        "phases": [{
            "scale": 1,
            "scenarios": {"perm_token": _measured(c8=15_000, c32=17_000),
                          "perm_signed": _measured(c8=12_000, c32=14_000)},
            **({"with_logins": with_logins} if with_logins else {}),
        }],
    }
    if ceiling_end:
        run["ceiling_end"] = ceiling_end
    return run


def _target(targets: list[dict], starts: str) -> dict:
    return next(t for t in targets if t["target"].startswith(starts))


def test_the_ratios_use_the_mean_of_the_ceiling_at_both_ends_of_the_run():
    alone = report.evaluate(_run(), None)
    assert _target(alone, "AK/SK-signed permission check rps")["value"] == "8c: 30.0%, 32c: 28.0%"
    both = report.evaluate(_run(ceiling_end=_measured(c8=20_000, c32=30_000)), None)
    signed = _target(both, "AK/SK-signed permission check rps")
    assert signed["value"] == "8c: 40.0%, 32c: 35.0%" and signed["pass"] is True
    assert _target(both, "token permission check rps")["value"] == "8c: 50.0%, 32c: 42.5%"


def test_the_logins_target_compares_the_medians_of_its_rounds():
    rounds = [{"idle": _wrk(idle), "loaded": _wrk(loaded), "logins": _logins()}
              for idle, loaded in ((3.0, 5.0), (4.0, 9.5), (3.5, 6.0))]
    beside = {"status": "ok", "idle_p99_ms": 3.5, "loaded_p99_ms": 6.0, "rounds": rounds,
              "wrk": rounds[2]["loaded"], "logins": _logins()}
    verdict = _target(report.evaluate(_run(with_logins=beside), None), "token permission check p99 with")
    assert verdict["pass"] is True and verdict["value"] == "6.00 ms (1.7x)"
    assert "3.00/5.00, 4.00/9.50, 3.50/6.00" in verdict["note"]

    beside["loaded_p99_ms"] = 7.5
    verdict = _target(report.evaluate(_run(with_logins=beside), None), "token permission check p99 with")
    assert verdict["pass"] is False

    rounds[1]["logins"] = _logins(achieved=7.0)  # one round fell behind the login rate
    verdict = _target(report.evaluate(_run(with_logins=beside), None), "token permission check p99 with")
    assert "did not keep up" in verdict["note"]


def _round(rps: float, p50: float, p99: float, *, errors: int = 0, split=(4, 4)) -> dict:
    return {"connections": 8, "duration_s": 5.0, "requests": int(rps * 5), "rps": rps,
            "p50_ms": p50, "p90_ms": p50, "p99_ms": p99, "max_ms": p99, "errors": errors,
            "non_2xx": errors, "socket_errors": 0,
            "statuses": {"200": int(rps * 5) - errors, **({"503": errors} if errors else {})},
            "connections_per_worker": list(split), "cpu": {"other_cores": 0.01}}


def test_rounds_combine_into_medians_each_taken_on_its_own():
    rounds = [_round(7_000, 1.1, 9.0, split=(5, 3)), _round(9_000, 0.9, 11.5, errors=2),
              _round(8_000, 1.0, 6.0, split=(4, 4))]
    combined = report.combine_rounds(rounds)
    # every figure is its own median: the median p99 is not the median-rps round's p99
    assert (combined["rps"], combined["p50_ms"], combined["p99_ms"]) == (8_000, 1.0, 9.0)
    assert combined["errors"] == 2 and combined["non_2xx"] == 2  # an error in any round shows
    assert combined["statuses"] == {"200": 119_998, "503": 2}
    assert combined["requests"] == 120_000 and combined["duration_s"] == 15.0
    assert combined["connections_per_worker"] == [4, 4]  # the median-rps round's
    assert [r["rps"] for r in combined["rounds"]] == [7_000, 9_000, 8_000]
    assert report.combine_rounds(rounds[:1]) == rounds[0]  # one round: as measured, no "rounds"
    even = report.combine_rounds(rounds[:2])
    assert even["rps"] == 8_000 and even["p99_ms"] == 10.25


def test_a_single_bad_round_does_not_decide_a_target():
    run = _run()
    signed = run["phases"][0]["scenarios"]["perm_signed"]
    signed["by_connections"]["32"] = report.combine_rounds(
        [_round(14_000, 4.0, 8.0), _round(14_500, 4.1, 12.5), _round(13_800, 4.2, 8.9)])
    targets = report.evaluate(run, None)
    p99 = _target(targets, "AK/SK-signed permission check p99")
    assert p99["value"] == "8.90 ms" and p99["pass"] is True
    signed["by_connections"]["32"] = report.combine_rounds(
        [_round(14_000, 4.0, 10.2), _round(14_500, 4.1, 12.5), _round(13_800, 4.2, 8.9)])
    assert _target(report.evaluate(run, None), "AK/SK-signed permission check p99")["pass"] is False
    run["options"].update(rounds=3, server="uvicorn", workers=2, database="sqlite",
                          wrk_threads=1, duration=5.0, warmup=3.0)
    run.update(started_at="2026-11-25T00:00:00+00:00", command="python bench/run.py",
               versions={"devuc": "0"}, git="abc", machine={
                   "cores": 2, "cpu": "x", "memory_gib": 1, "loadavg_start": "0",
                   "other_busy_processes": []})
    for phase in run["phases"]:
        phase["seed"] = {"counts": {"accounts": 1, "users": 1, "codearts_projects": 1,
                                    "memberships": 1}, "seconds": 1}
        for m in phase["scenarios"].values():
            for c, r in m["by_connections"].items():
                if "requests" not in r:
                    m["by_connections"][c] = _round(r["rps"], 1.0, r["p99_ms"])
    run["ceiling"] = {"status": "ok", "by_connections": {
        c: _round(r["rps"], 0.5, 1.0) for c, r in run["ceiling"]["by_connections"].items()}}
    text = report.markdown(run)
    assert "rounds: 14,000 / 14,500 / 13,800 rps, p99 10.20 / 12.50 / 8.90 ms" in text
    assert "3 rounds back to back" in text


def test_inprocess_times_every_hot_route():
    """bench/inprocess.py runs as documented: each hot route answered 2xx in every batch (it
    stops at the first other answer) and gets its line."""
    import re
    import subprocess

    script = Path(__file__).resolve().parents[1] / "bench" / "inprocess.py"
    run = subprocess.run([sys.executable, str(script), "--count", "40", "--batches", "2"],
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    timed = dict(re.findall(r"^(\w+)\s+([0-9.]+) µs per request", run.stdout, re.M))
    assert set(timed) == {"health", "perm_token", "perm_signed", "token_validate", "vpceps", "login"}
    assert all(float(v) > 0 for v in timed.values())
