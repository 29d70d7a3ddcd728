"""Schemathesis hooks for tests/test_fuzz_openapi.py, loaded by `schemathesis run` through
SCHEMATHESIS_HOOKS (this file is not a test module).

DEVUC_FUZZ_MODE=token: every case carries an X-Auth-Token of the fuzz account's owner. A case
that may revoke the caller's tokens (DELETE /v3/auth/tokens, a password change, creating an
access key) gets a token of its own, and a 401 marks the cached token stale, so a revocation the
fuzzer manages never starves the cases after it.

DEVUC_FUZZ_MODE=signed: every request is signed with the owner's AK/SK by huaweicloudsdkcore's
Signer (SDK-HMAC-SHA256), over the exact method, path, query and body bytes about to be sent.

DEVUC_FUZZ_ACCOUNT is the `devuc bootstrap --json` output of the fuzz account, DEVUC_FUZZ_STATS a
file where the status codes seen are written as JSON when the run ends.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import secrets
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

import requests
import schemathesis

MODE = os.environ.get("DEVUC_FUZZ_MODE", "token")
ACCOUNT = json.loads(os.environ["DEVUC_FUZZ_ACCOUNT"]) if os.environ.get("DEVUC_FUZZ_ACCOUNT") else None
STATS_FILE = os.environ.get("DEVUC_FUZZ_STATS")
REGION = "cn-north-4"

_lock = threading.Lock()
_statuses: collections.Counter = collections.Counter()
_auth_refusals: collections.Counter = collections.Counter()
_starved: list[str] = []  # token fetches that failed


def _dump_stats() -> None:
    if STATS_FILE:
        with open(STATS_FILE, "w") as f:
            json.dump({"statuses": dict(_statuses), "auth_refusals": dict(_auth_refusals), "starved": _starved}, f)


atexit.register(_dump_stats)


@schemathesis.hook
def after_call(context, case, response):
    with _lock:
        _statuses[str(response.status_code)] += 1
        if response.status_code in (401, 403):
            try:
                code = response.json().get("error_code") or response.json()["error"]["error_code"]
            except Exception:  # noqa: BLE001 - only statistics
                code = "?"
            _auth_refusals[f"{response.status_code} {code}"] += 1
        if MODE == "token" and response.status_code == 401:
            _TokenState.stale = True


# --- token mode -------------------------------------------------------------------------------

def _revokes_tokens(case) -> bool:
    path, method = case.operation.path, case.method.upper()
    return (path == "/v3/auth/tokens" and method == "DELETE") \
        or path == "/v3/users/{user_id}/password" \
        or (path == "/v3.0/OS-CREDENTIAL/credentials" and method == "POST")


class _TokenState:
    token: str | None = None
    stale = True


def _new_token() -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": ACCOUNT["user_name"], "password": ACCOUNT["password"], "domain": {"name": ACCOUNT["account_name"]}}}},
        "scope": {"project": {"name": REGION}}}}
    base = os.environ["DEVUC_FUZZ_BASE_URL"]
    response = requests.post(base + "/v3/auth/tokens?nocatalog=true", json=body, timeout=30)
    if response.status_code == 401:
        # The fuzzer found the owner's id and renamed it, changed its password or disabled it
        # (an admin may): restore it, as the admin, through a request signed with the owner's key.
        ACCOUNT["password"] = f"Fz!{secrets.token_hex(8)}aA1"
        _restore_owner(base)
        body["auth"]["identity"]["password"]["user"]["password"] = ACCOUNT["password"]
        response = requests.post(base + "/v3/auth/tokens?nocatalog=true", json=body, timeout=30)
    if response.status_code != 201:
        # counted, and the test fails on it: the run must not go on unauthenticated
        _starved.append(response.text)
        return _TokenState.token or "no-token"
    return response.headers["X-Subject-Token"]


def _restore_owner(base: str) -> None:
    body = json.dumps({"user": {"name": ACCOUNT["user_name"], "password": ACCOUNT["password"],
                                "enabled": True}}).encode()
    request = requests.Request("PUT", f"{base}/v3.0/OS-USER/users/{ACCOUNT['user_id']}", data=body,
                               headers={"Content-Type": "application/json"}).prepare()
    _sign_prepared(request)
    response = requests.Session().send(request, timeout=30)
    if response.status_code != 200:
        _starved.append(response.text)


if MODE == "token":
    # refresh_interval=None: get() runs for every case and decides itself whether to reuse the
    # token; retry_on=[]: a 401 is a result to check, never silently retried.
    @schemathesis.auth(refresh_interval=None, retry_on=[])
    class DevucToken:
        def get(self, case, ctx):
            with _lock:
                if _revokes_tokens(case):
                    _TokenState.stale = True
                    return _new_token()
                if _TokenState.stale or _TokenState.token is None:
                    _TokenState.token = _new_token()
                    _TokenState.stale = False
                return _TokenState.token

        def set(self, case, data, ctx):
            case.headers = dict(case.headers or {})
            case.headers["X-Auth-Token"] = data
            if case.operation.path == "/v3/auth/tokens" and case.method.upper() == "DELETE" \
                    and ord(data[-1]) % 2 == 0:
                # half the revocations name the caller's own token as the subject
                case.headers["X-Subject-Token"] = data


# --- signed mode ------------------------------------------------------------------------------

def _sign_prepared(request: requests.PreparedRequest) -> None:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    url = urlsplit(request.url)
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = {}
    if request.headers.get("Content-Type"):
        headers["Content-Type"] = request.headers["Content-Type"]
    sdk = SdkRequest(method=request.method, schema=url.scheme, host=url.netloc, resource_path=unquote(url.path),
                     query_params=parse_qsl(url.query, keep_blank_values=True), header_params=headers, body=body)
    signed = Signer(BasicCredentials(ACCOUNT["access"], ACCOUNT["secret"])).sign(sdk).header_params
    for name in ("X-Sdk-Date", "Authorization", "Host", "X-Sdk-Content-Sha256"):
        if name in signed:
            request.headers[name] = signed[name]


if MODE == "signed":
    _original_send = requests.Session.send

    def _signing_send(self, request, **kwargs):
        if request.url.startswith(os.environ["DEVUC_FUZZ_BASE_URL"]) and "/openapi.json" not in request.url:
            _sign_prepared(request)
        return _original_send(self, request, **kwargs)

    requests.Session.send = _signing_send
