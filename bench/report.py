"""The targets of tracker issue 7, judged from one run's results, and the Markdown report."""

from __future__ import annotations

import statistics

# OWASP Password Storage Cheat Sheet, argon2id minimum configurations (memory KiB, iterations),
# all with parallelism 1; any one of them is acceptable.
OWASP_ARGON2ID = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))

PERM_VS_BARE = {"perm_token": 0.35, "perm_signed": 0.30}
P99_LIMIT_MS = 10.0
SCALE_KEEP = 0.85
LOGIN_P99_FACTOR = 2.0
RSS_LIMIT_MB = 150.0
KEYSTONE_RATIOS = {"token_validate": 100.0, "login": 5.0}


def owasp_verdict(memory_kib: int, time_cost: int, parallelism: int, is_id: bool) -> bool:
    return is_id and parallelism >= 1 and any(
        memory_kib >= m and time_cost >= t for m, t in OWASP_ARGON2ID
    )


def combine_rounds(rounds: list[dict]) -> dict:
    """One figure per concurrency from several back-to-back wrk rounds (``WrkResult.as_dict()``
    each, with its ``cpu``): rps, p50 and p99 are the medians of the rounds', each taken on its
    own; errors and requests are the totals (an error in any round shows); the rest (statuses,
    CPU shares, connections per worker) is the median-rps round's. Every round is kept under
    ``rounds``. One round is returned as it is."""
    if len(rounds) == 1:
        return dict(rounds[0])
    ordered = sorted(rounds, key=lambda r: r["rps"])
    combined = dict(ordered[(len(ordered) - 1) // 2])  # the lower middle for an even count
    for field in ("rps", "p50_ms", "p99_ms"):
        combined[field] = round(statistics.median(r[field] for r in rounds), 2)
    for field in ("requests", "errors", "non_2xx", "socket_errors"):
        combined[field] = sum(r[field] for r in rounds)
    combined["duration_s"] = round(sum(r["duration_s"] for r in rounds), 2)
    combined["statuses"] = {}
    for r in rounds:
        for status, count in r["statuses"].items():
            combined["statuses"][status] = combined["statuses"].get(status, 0) + count
    combined["rounds"] = [dict(r) for r in rounds]
    return combined


def _rps(measurement: dict | None, conns: str) -> float | None:
    if not measurement or measurement.get("status") != "ok":
        return None
    r = measurement["by_connections"].get(conns)
    return r["rps"] if r else None


def bare_ceiling(run: dict) -> dict | None:
    """The bare ASGI ceiling the ratios use: the mean, per concurrency, of its measurement at the
    start of the run and the one at the end (when both were taken), so a machine that is busier
    at one end of the run than at the other weighs on both sides alike."""
    measured = [m for m in (run.get("ceiling"), run.get("ceiling_end")) if m and m.get("status") == "ok"]
    if len(measured) < 2:
        return run.get("ceiling")
    by_connections = {}
    for c in measured[0]["by_connections"]:
        values = [_rps(m, c) for m in measured]
        if all(v is not None for v in values):
            by_connections[c] = {"rps": sum(values) / len(values)}
    return {"status": "ok", "by_connections": by_connections}


def _p99(measurement: dict | None, conns: str) -> float | None:
    if not measurement or measurement.get("status") != "ok":
        return None
    r = measurement["by_connections"].get(conns)
    return r["p99_ms"] if r else None


def _target(name: str, goal: str, value: str, passed: bool | None, note: str = "") -> dict:
    return {"target": name, "goal": goal, "value": value, "pass": passed, "note": note}


def _all(values: list[bool | None]) -> bool | None:
    if not values or any(v is None for v in values):
        return None
    return all(values)


def evaluate(run: dict, baseline: dict | None = None) -> list[dict]:
    targets = []
    conns = [str(c) for c in run["options"]["connections"]]
    high = conns[-1]
    phases = run["phases"]
    default = next((p for p in phases if p["scale"] == 1), None)
    ten = next((p for p in phases if p["scale"] == 10), None)
    first = phases[0] if phases else None
    bare = bare_ceiling(run)

    # 1. permission checks against the bare ASGI ceiling (every phase's own bare run is the same)
    for name, share in PERM_VS_BARE.items():
        m = first["scenarios"].get(name) if first else None
        verdicts, shown = [], []
        for c in conns:
            rps, ceiling = _rps(m, c), _rps(bare, c)
            if rps is None or not ceiling:
                verdicts.append(None)
                shown.append(f"{c}c: n/a")
                continue
            verdicts.append(rps / ceiling >= share)
            shown.append(f"{c}c: {100 * rps / ceiling:.1f}%")
        label = "token" if name == "perm_token" else "AK/SK-signed"
        targets.append(_target(
            f"{label} permission check rps vs bare ASGI", f">= {share:.0%} at every concurrency",
            ", ".join(shown), _all(verdicts),
            "" if m and m.get("status") == "ok" else (m or {}).get("reason") or "not measured"))

    # 2. p99 of the signed permission check at the highest concurrency (and the token one)
    for name in ("perm_signed", "perm_token"):
        m = first["scenarios"].get(name) if first else None
        p99 = _p99(m, high)
        label = "AK/SK-signed" if name == "perm_signed" else "token"
        targets.append(_target(
            f"{label} permission check p99 at {high} connections", f"<= {P99_LIMIT_MS:g} ms",
            f"{p99:.2f} ms" if p99 is not None else "n/a",
            None if p99 is None else p99 <= P99_LIMIT_MS,
            "the brief names the signed check; the token check is held to the same bar"
            if name == "perm_token" else ""))

    # 3. scale 10 keeps 85% of the default-scale rps (only when both ran the same code)
    small = default["scenarios"] if default else (baseline_scenarios(baseline) if baseline else None)
    small_code = (default or (baseline_phase(baseline) if baseline else None) or {}).get("code", {})
    changed = bool(ten and small_code and ten.get("code", {}).get("src_fingerprint")
                   != small_code.get("src_fingerprint"))
    for name in ("perm_token", "perm_signed"):
        if changed:
            targets.append(_target(
                f"{name} rps at --scale 10 vs default scale", f">= {SCALE_KEEP:.0%}", "n/a", None,
                "not comparable: src/ changed between the two phases (see code fingerprints)"))
            continue
        if not ten or not small:
            targets.append(_target(
                f"{name} rps at --scale 10 vs default scale", f">= {SCALE_KEEP:.0%}", "n/a", None,
                "run with --compare-scale, or --scale 10 --baseline <default-scale result JSON>"))
            continue
        verdicts, shown = [], []
        for c in conns:
            big_rps, small_rps = _rps(ten["scenarios"].get(name), c), _rps(small.get(name), c)
            if big_rps is None or not small_rps:
                verdicts.append(None)
                shown.append(f"{c}c: n/a")
                continue
            verdicts.append(big_rps / small_rps >= SCALE_KEEP)
            shown.append(f"{c}c: {100 * big_rps / small_rps:.1f}%")
        targets.append(_target(
            f"{name} rps at --scale 10 vs default scale", f">= {SCALE_KEEP:.0%} at every concurrency",
            ", ".join(shown), _all(verdicts),
            "" if default else "default-scale numbers from the --baseline file (another run)"))

    # 4. p99 while password logins run alongside
    for phase in phases:
        beside = phase.get("with_logins")
        # the median of the idle rounds measured beside the loaded ones; results from before the
        # rounds existed compare with the token scenario's own p99
        idle = (beside or {}).get("idle_p99_ms") or _p99(phase["scenarios"].get("perm_token"), high)
        if not beside or beside.get("status") != "ok" or idle is None:
            targets.append(_target(
                f"token permission check p99 with logins alongside (scale {phase['scale']:g})",
                f"<= {LOGIN_P99_FACTOR:g}x idle p99", "n/a", None,
                (beside or {}).get("reason", "not measured")))
            continue
        loaded = beside.get("loaded_p99_ms") or beside["wrk"]["p99_ms"]
        logins = beside["logins"]
        rounds = beside.get("rounds") or [{"logins": logins}]
        slowest = min(r["logins"]["achieved_per_s"] for r in rounds)
        note = (f"logins: {logins['achieved_per_s']}/s achieved of {logins['target_per_s']:g}/s, "
                f"{logins['ok']} ok, login p50 {logins['p50_ms']} ms")
        if len(rounds) > 1:
            pairs = ", ".join(f"{r['idle']['p99_ms']:.2f}/{r['loaded']['p99_ms']:.2f}" for r in rounds)
            note = (f"medians of {len(rounds)} rounds (idle/with logins p99 ms: {pairs}); "
                    f"slowest round's logins {slowest}/s; median round's {note}")
        if slowest < 0.9 * logins["target_per_s"]:
            note += "; the server did not keep up with the login rate"
        targets.append(_target(
            f"token permission check p99 with {logins['target_per_s']:g} logins/s alongside "
            f"(scale {phase['scale']:g}, {high}c)",
            f"<= {LOGIN_P99_FACTOR:g}x idle p99 ({idle:.2f} ms)",
            f"{loaded:.2f} ms ({loaded / idle:.1f}x)" if idle else f"{loaded:.2f} ms",
            loaded <= LOGIN_P99_FACTOR * idle, note))

    # 5. memory per worker at scale 10
    for phase in phases:
        mem = phase.get("memory") or {}
        rss = mem.get("max_worker_rss_mib")
        reads = (phase.get("memory_after_reads") or {}).get("max_worker_rss_mib")
        mb = rss * 1.048576 if rss is not None else None
        at_ten = phase["scale"] == 10
        targets.append(_target(
            f"RSS per worker (scale {phase['scale']:g}, largest worker after the run)",
            f"<= {RSS_LIMIT_MB:g} MB at --scale 10",
            f"{mb:.1f} MB ({rss:.1f} MiB)" if mb is not None else "n/a",
            (mb <= RSS_LIMIT_MB if mb is not None else None) if at_ten else None,
            ("" if at_ten else "informative: the target applies at --scale 10; ")
            + (f"{reads:.1f} MiB before any password login" if reads is not None else "")))

    # 6. password hashing parameters
    h = run.get("hashing") or {}
    if h:
        targets.append(_target(
            "password hashing (argon2id) vs OWASP minimums",
            "argon2id, m >= 19 MiB with t >= 2, p >= 1 (or an equivalent OWASP row)",
            f"{h['type']} m={h['memory_kib'] / 1024:g} MiB, t={h['time_cost']}, p={h['parallelism']}",
            h["meets_owasp"],
            f"one verify takes {h['verify_ms']:.0f} ms here; OWASP's m=19 MiB,t=2,p=1 takes "
            f"{h['owasp_reference_verify_ms']:.0f} ms"))

    # 7. against Keystone
    ks = run.get("keystone")
    if ks is not None:
        for name, ratio in KEYSTONE_RATIOS.items():
            if ks.get("status") != "ok":
                targets.append(_target(f"devuc/keystone {name}", f">= {ratio:g}x", "n/a", None,
                                       ks.get("reason", "")))
                continue
            ours = first["scenarios"].get(name) if first else None
            theirs = ks["scenarios"].get(name)
            verdicts, shown = [], []
            for c in conns:
                a, b = _rps(ours, c), _rps(theirs, c)
                if a is None or not b:
                    verdicts.append(None)
                    shown.append(f"{c}c: n/a")
                    continue
                verdicts.append(a / b >= ratio)
                shown.append(f"{c}c: {a / b:.1f}x")
            targets.append(_target(f"devuc/keystone {name.replace('_', ' ')} rps", f">= {ratio:g}x",
                                   ", ".join(shown), _all(verdicts)))
    return targets


def baseline_phase(baseline: dict) -> dict | None:
    return next((p for p in baseline.get("phases", []) if p["scale"] == 1), None)


def baseline_scenarios(baseline: dict) -> dict | None:
    phase = baseline_phase(baseline)
    return phase["scenarios"] if phase else None


# --- Markdown -----------------------------------------------------------------------------------

def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def _measurement_rows(title: str, m: dict, bare: dict | None, conns: list[str]) -> list[str]:
    if m.get("status") != "ok":
        return [f"| {title} | – | {m.get('status')} | | | | | | | {m.get('reason') or ''} |"]
    rows = []
    for c in conns:
        r = m["by_connections"].get(c)
        if r is None:
            continue
        if not r["requests"]:
            rows.append(f"| {title} | {c} | 0 | – | – | {r['errors']} | | {_other(r)} | | no request "
                        f"completed in {r['duration_s']:g} s |")
            continue
        ceiling = _rps(bare, c)
        share = f"{100 * r['rps'] / ceiling:.1f}%" if ceiling and m is not bare else ""
        rows.append(f"| {title} | {c} | {r['rps']:,.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                    f"{r['errors']} | {share} | {_other(r)} | {_split(r)} | "
                    f"{'; '.join(filter(None, (status_summary(r), _rounds(r))))} |")
    return rows


def _rounds(r: dict) -> str:
    rounds = r.get("rounds")
    if not rounds:
        return ""
    rps = " / ".join(f"{x['rps']:,.0f}" for x in rounds)
    p99 = " / ".join(f"{x['p99_ms']:.2f}" for x in rounds)
    return f"rounds: {rps} rps, p99 {p99} ms"


def _other(r: dict) -> str:
    cpu = r.get("cpu")
    return f"{cpu['other_cores']:.2f}" if cpu else ""


def status_summary(r: dict) -> str:
    odd = {k: v for k, v in r["statuses"].items() if not k.startswith("2")}
    parts = [f"{k}×{v}" for k, v in odd.items()]
    if r["socket_errors"]:
        parts.append(f"socket errors ×{r['socket_errors']}")
    return ", ".join(parts)


def _split(r: dict) -> str:
    split = r.get("connections_per_worker")
    return "/".join(map(str, split)) if split else ""


HEADER = ("| scenario | conns | rps | p50 ms | p99 ms | errors | vs bare | other load | "
          "conns per worker | non-2xx / socket errors; rounds |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")


def markdown(run: dict) -> str:
    from workload import BARE, SCENARIOS

    conns = [str(c) for c in run["options"]["connections"]]
    bare = bare_ceiling(run)
    m = run["machine"]
    out = [
        f"## devuc benchmark {run['started_at']}",
        "",
        f"- machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB; load average at start "
        f"{m['loadavg_start']}, at end {m.get('loadavg_end', 'n/a')}",
        f"- other busy processes at start: {m['other_busy_processes'] or 'none seen'}",
        f"- devuc {run['versions'].get('devuc')} at {run['git']}; server: {run['options']['server']} "
        f"with {run['options']['workers']} workers; database: {run['options']['database']}",
        f"- wrk {run['options']['wrk_threads']} thread(s), {run['options']['duration']} s per "
        f"measurement after {run['options']['warmup']} s warm-up; everything on 127.0.0.1",
        *([(f"- each row: {run['options']['rounds']} rounds back to back after one warm-up; rps, "
            "p50 and p99 are the medians of the rounds' (each shown in the last column), errors "
            "their total; the targets are judged on the medians")]
          if run["options"].get("rounds", 1) > 1 else []),
        f"- command: `{run['command']}`",
        "- \"other load\": cores used by processes other than the server, wrk and this harness during "
        f"the measurement (of {m['cores']}); \"vs bare\": rps as a share of the bare ASGI ceiling"
        + (" (the mean of its measurements at the start and at the end of the run)"
           if run.get("ceiling_end") else ""),
        "",
    ]
    fingerprints = {p.get("code", {}).get("src_fingerprint") for p in run["phases"]}
    if len(fingerprints) > 1:
        out += ["**Warning: src/ changed during this run; the phases ran different code "
                "(fingerprints " + ", ".join(f"scale {p['scale']:g}: {p['code']['src_fingerprint']}"
                                             for p in run["phases"]) + ").**", ""]
    for phase in run["phases"]:
        seed = phase["seed"]
        c = seed["counts"]
        code = phase.get("code", {})
        out += [
            f"### scale {phase['scale']:g}: {c['accounts']:,} accounts, {c['users']:,} users, "
            f"{c['codearts_projects']:,} CodeArts projects, {c['memberships']:,} memberships "
            f"(seeded in {seed['seconds']} s)",
            "",
            f"devuc at {code.get('git', '?')}, src/ fingerprint {code.get('src_fingerprint', '?')}",
            "",
            HEADER,
        ]
        for key, when in (("ceiling", "start"), ("ceiling_end", "end")):
            if run.get(key):
                label = f"{BARE.title}, {when}" if run.get("ceiling_end") else BARE.title
                out += _measurement_rows(label, run[key], None, conns)
        for name, scenario in SCENARIOS.items():
            if name in phase["scenarios"]:
                out += _measurement_rows(scenario.title, phase["scenarios"][name], bare, conns)
        beside = phase.get("with_logins")
        if beside and beside.get("status") == "ok":
            r, logins = beside["wrk"], beside["logins"]
            out.append(
                f"| permission check, token + {logins['target_per_s']:g} logins/s | {r['connections']} | "
                f"{r['rps']:,.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | | {_other(r)} | "
                f"{_split(r)} | {status_summary(r)} logins {logins['achieved_per_s']}/s |")
        def rss(mem: dict) -> str:
            return ", ".join(f"{w['rss_mib']:.1f}" for w in mem.get("workers", []) if w.get("rss_mib")) or "n/a"

        mem, reads = phase.get("memory") or {}, phase.get("memory_after_reads") or {}
        out += ["", f"RSS per worker (MiB): {rss(reads)} after the read scenarios; {rss(mem)} at the end of the phase "
                    f"(supervisor {mem.get('supervisor', {}).get('rss_mib', 'n/a')}).",
                ""]
        skipped = {n: s for n, s in phase["scenarios"].items() if s.get("status") != "ok"}
        for name, s in skipped.items():
            out.append(f"- {name}: {s['status']}: {s.get('reason')}")
        if skipped:
            out.append("")
    ks = run.get("keystone")
    if ks is not None:
        out += [f"### OpenStack Keystone {ks.get('versions', {}).get('keystone', '')} "
                f"(gunicorn, {run['options']['workers']} sync workers, SQLite, Fernet, cache "
                f"{'on' if ks.get('cache') else 'off'}; password hash {ks.get('password_hash', '?')})", ""]
        if ks.get("status") == "ok":
            out.append(HEADER)
            for name, m2 in ks["scenarios"].items():
                out += _measurement_rows(f"keystone {SCENARIOS[name].title}", m2, None, conns)
            out.append("")
        else:
            out += [f"not measured: {ks.get('reason')}", ""]
    out += ["### targets", "", "| target | goal | measured | result | note |",
            "| --- | --- | --- | --- | --- |"]
    for t in run.get("targets", []):
        out.append(f"| {t['target']} | {t['goal']} | {t['value']} | {_verdict(t['pass'])} | {t['note']} |")
    return "\n".join(out) + "\n"
