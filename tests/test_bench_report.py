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
