"""The requests each scenario sends, built ahead of the run, and the paced password logins that run
beside a load test."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from loadgen import Req
from seed import PASSWORD, REGION, Member

PERMISSION_PATH = "/v1/domain/user-permission"
TOKENS_PATH = "/v3/auth/tokens"
LOGIN_PATH = "/v3/auth/tokens?nocatalog=true"
VPCEPS_PATH = "/v2/vpceps"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    what: str  # one line for the report


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("health", "GET /health", "liveness plus a SELECT 1"),
        Scenario("perm_token", "permission check, token",
                 f"GET {PERMISSION_PATH}?project_id=... with X-Auth-Token"),
        Scenario("perm_signed", "permission check, AK/SK",
                 f"GET {PERMISSION_PATH}?project_id=... signed SDK-HMAC-SHA256 (X-Project-Id)"),
        Scenario("token_validate", "token validation",
                 f"GET {TOKENS_PATH} with X-Auth-Token and X-Subject-Token (the same token)"),
        Scenario("vpceps", "VPC endpoint list",
                 f"GET {VPCEPS_PATH}?enterprise_id=... with X-Auth-Token and region (owner token)"),
        Scenario("login", "password login",
                 f"POST {LOGIN_PATH}, project-scoped password body (argon2id verify)"),
    )
}
BARE = Scenario("bare_asgi", "bare ASGI (ceiling)", "GET / on bench/bare_asgi.py")


def permission_by_token(members: list[Member]) -> list[Req]:
    return [Req("GET", f"{PERMISSION_PATH}?project_id={m.project_id}", {"X-Auth-Token": m.token})
            for m in members]


def permission_signed(members: list[Member], host: str) -> list[Req]:
    """Signed by the official SDK's own Signer, as tests/iam/test_iam_sdk.py does: valid for the
    service's 15-minute clock-skew window from now."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    out = []
    for m in members:
        request = SdkRequest(method="GET", schema="http", host=host, resource_path=PERMISSION_PATH,
                             query_params=[("project_id", m.project_id)],
                             header_params={"X-Project-Id": m.region_project_id}, body=b"")
        signed = Signer(BasicCredentials(m.access, m.secret)).sign(request)
        out.append(Req("GET", signed.uri, dict(signed.header_params)))
    return out


def token_validation(members: list[Member]) -> list[Req]:
    return [Req("GET", TOKENS_PATH, {"X-Auth-Token": m.token, "X-Subject-Token": m.token})
            for m in members]


def vpcep_list(owners: list[Member]) -> list[Req]:
    return [Req("GET", f"{VPCEPS_PATH}?enterprise_id={m.account_id}",
                {"X-Auth-Token": m.token, "region": REGION}) for m in owners]


def login_body(user: str, password: str, domain: str, project: str) -> str:
    return json.dumps({
        "auth": {
            "identity": {"methods": ["password"], "password": {
                "user": {"name": user, "password": password, "domain": {"name": domain}}}},
            "scope": {"project": {"name": project}},
        }
    })


def password_login(users: list[Member]) -> list[Req]:
    return [Req("POST", LOGIN_PATH, {"Content-Type": "application/json"},
                login_body(m.user_name, PASSWORD, m.account_name, REGION)) for m in users]


def health() -> list[Req]:
    return [Req("GET", "/health")]


def bare() -> list[Req]:
    return [Req("GET", "/")]


class PacedRequests:
    """Sends requests at a fixed rate from a few threads (keep-alive connections), beside a wrk
    run: e.g. 10 password logins per second."""

    def __init__(self, port: int, requests: list[Req], rate: float, threads: int | None = None) -> None:
        self.port, self.requests, self.rate = port, requests, rate
        # Enough senders that a slow answer never holds the pace back (4 s of latency at rate).
        self.pool = ThreadPoolExecutor(threads or max(8, int(rate * 4)), thread_name_prefix="paced")
        self.local = threading.local()
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.thread = threading.Thread(target=self._schedule, daemon=True)
        self.started = self.finished = 0.0

    def _send(self, req: Req) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        began = time.perf_counter()
        try:
            conn.request(req.method, req.path, body=req.body, headers=req.headers)
            response = conn.getresponse()
            response.read()
            status = str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            self.local.conn = None
            status = type(exc).__name__
        with self.lock:
            self.latencies.append(time.perf_counter() - began)
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def _schedule(self) -> None:
        self.started = time.perf_counter()
        sent = 0
        while not self.stop_event.is_set():
            due = self.started + sent / self.rate
            delay = due - time.perf_counter()
            if delay > 0 and self.stop_event.wait(delay):
                break
            self.pool.submit(self._send, self.requests[sent % len(self.requests)])
            sent += 1

    def __enter__(self) -> PacedRequests:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join()
        self.finished = time.perf_counter()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def summary(self) -> dict:
        seconds = max(self.finished - self.started, 1e-9)
        done = sorted(self.latencies)
        ok = sum(v for k, v in self.statuses.items() if k.startswith("2"))

        def pct(q: float) -> float | None:
            return round(done[min(len(done) - 1, int(q * len(done)))] * 1000, 1) if done else None

        return {
            "target_per_s": self.rate,
            "completed": len(done),
            "achieved_per_s": round(len(done) / seconds, 2),
            "ok": ok,
            "statuses": self.statuses,
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
        }
