"""Schemathesis against the OpenAPI document a real `devuc serve` publishes (/openapi.json):
every operation, authenticated with a real token and, at the same time, with requests signed
with AK/SK (SDK-HMAC-SHA256, huaweicloudsdkcore's Signer). No answer may be a 5xx, and every
answer must match its documentation: status code documented, content type, body valid against
the response schema, documented headers (tracker issue 6, item 1).

`schemathesis run` is driven as a subprocess with a fixed seed (deterministic) and the hooks in
tests/fuzz_openapi_hooks.py (token per case where a case may revoke it, request signing). Each
run has an account of its own, made with `devuc bootstrap`, so the destructive calls the fuzzer
makes (deleting groups, keys, users, projects, revoking tokens, changing passwords) never touch
what the other tests of the shared session server use.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from support import Server

TESTS = Path(__file__).resolve().parent
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")

# Checks run: everything schemathesis has, except
# - unsupported_method: an undefined method on a known path answers 404 APIGW.0101, as Huawei
#   Cloud's API gateway does (spec/iam.md §5.2), not the 405 this check demands;
# - positive_data_acceptance: "schema-valid" requests are mostly refused for good reasons the
#   document cannot express as a schema (random ids answer 404, random names of another account
#   403, a random original password 401...);
# - negative_data_rejection: the wire contract of the real services accepts and ignores unknown
#   fields and lenient scalars on several routes (the SDKs send them), so a request outside the
#   documented schema may rightly succeed.
EXCLUDED_CHECKS = "unsupported_method,positive_data_acceptance,negative_data_rejection"

# Cases: SQLite carries the full run (token + signed together ≥ 5,000 cases); PostgreSQL a
# smaller one: no coverage phase (its fixed sweep of boundary and negative values is most of the
# SQLite cases and has nothing backend-specific), fuzzing only.
MAX_EXAMPLES = {"sqlite": 10, "postgres": 6}
PHASES = {"sqlite": "examples,coverage,fuzzing", "postgres": "examples,fuzzing"}
MIN_CASES = {"sqlite": 5000, "postgres": 500}


def _run(server: Server, mode: str, backend: str, tmp: Path) -> subprocess.Popen:
    account = server.bootstrap()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "SCHEMATHESIS_HOOKS": "fuzz_openapi_hooks",
        "DEVUC_FUZZ_MODE": mode,
        "DEVUC_FUZZ_ACCOUNT": json.dumps(account),
        "DEVUC_FUZZ_BASE_URL": server.base_url,
        "DEVUC_FUZZ_STATS": str(tmp / f"stats-{mode}.json"),
        "NO_COLOR": "1",
    }
    cmd = [
        str(SCHEMATHESIS), "run", f"{server.base_url}/openapi.json",
        "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
        "--phases", PHASES[backend],
        "--max-examples", str(MAX_EXAMPLES[backend]), "--seed", "20261124",
        "--generation-database", "none",  # no replay of an earlier run's examples: same seed, same cases
        # one worker: hypothesis's lambda-description cache is not thread-safe on Python 3.11
        # ("AST constructor recursion depth mismatch"); the two modes run side by side instead
        "--workers", "1",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
    ]
    out = open(tmp / f"schemathesis-{mode}.txt", "w")
    # cwd: schemathesis leaves its .schemathesis/ there
    return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp)


def _cases(output: str) -> int:
    found = re.search(r"Test cases:\s*\n\s*(\d+) generated", output)
    assert found, output[-3000:]
    return int(found.group(1))


def test_fuzz_every_operation(server: Server, tmp_path, capsys):
    backend = "sqlite" if server.database_url.startswith("sqlite") else "postgres"
    started = time.monotonic()
    runs = {mode: _run(server, mode, backend, tmp_path) for mode in ("token", "signed")}
    for proc in runs.values():
        proc.wait(timeout=400)
    seconds = time.monotonic() - started
    results = {}
    for mode, proc in runs.items():
        output = (tmp_path / f"schemathesis-{mode}.txt").read_text()
        stats = json.loads((tmp_path / f"stats-{mode}.json").read_text())
        assert not stats["starved"], f"{mode}: no fresh token could be had: {stats['starved'][:3]}"
        report = output[max(output.find("FAILURES"), output.find("ERRORS"), 0):]
        assert proc.returncode == 0, f"schemathesis ({mode}) found failures:\n{report[:12000]}"
        assert "Tested: " in output and "Selected: " in output
        selected, tested = re.search(r"Selected: (\d+)/(\d+)", output), re.search(r"Tested: (\d+)", output)
        assert selected.group(1) == selected.group(2) == tested.group(1), "every operation is fuzzed"
        assert not any(code.startswith("5") for code in stats["statuses"]), stats
        # the run really was authenticated: gateway refusals of the caller's credentials stay rare
        refused = sum(n for key, n in stats["auth_refusals"].items() if "APIGW" in key)
        assert refused <= 5, stats
        results[mode] = (_cases(output), int(tested.group(1)), stats["statuses"])
    total = sum(cases for cases, _, _ in results.values())
    line = (f"schemathesis on {backend}: {total} cases in {seconds:.0f}s, no failures ("
            + "; ".join(f"{mode}: {cases} cases over {ops} operations, statuses {dict(sorted(st.items()))}"
                        for mode, (cases, ops, st) in results.items()) + ")")
    with capsys.disabled():  # the case count shows in every run's output, -q included
        print(f"\n{line}")
    assert total >= MIN_CASES[backend], line
