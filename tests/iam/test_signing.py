"""AK/SK signature verification: the shared conformance vectors, and requests signed here by the
official SDK's own signer classes."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import (
    DerivationAKSKSigner,
    P256SHA256Signer,
    SM2SM3Signer,
    SM3Signer,
    Signer,
)
from requests.utils import requote_uri

from devuc.iam import signing
from devuc.iam.signing_vectors import RawRequestError, check_file, judge, parse_raw_request

# --------------------------------------------------------------------------- conformance vectors


def _vectors_path() -> Path:
    shared = os.environ.get("DEVUC_SHARED_DIR")
    root = Path(shared) if shared else Path(__file__).resolve().parents[3] / "shared"
    return root / "testdata" / "signing-vectors.json"


VECTORS = _vectors_path()
needs_vectors = pytest.mark.skipif(not VECTORS.is_file(), reason=f"{VECTORS} not found")


@needs_vectors
def test_every_vector_and_client_flow_request_gets_its_expected_verdict():
    document = json.loads(VECTORS.read_text(encoding="utf-8"))
    total = len(document["vectors"]) + sum(
        len(flow["exchanges"]) for flow in document["client_flows"]
    )
    out = io.StringIO()

    status = check_file(str(VECTORS), out)

    lines = out.getvalue().splitlines()
    assert lines == [f"{total} passed, 0 failed"], "\n".join(lines)
    assert status == 0
    assert len(document["vectors"]) == 110


@needs_vectors
def test_check_file_reports_a_vector_whose_verdict_differs(tmp_path):
    document = json.loads(VECTORS.read_text(encoding="utf-8"))
    flipped = next(v for v in document["vectors"] if v["name"] == "neg-body-byte-changed")
    flipped["expected_verdict"] = "accept"
    edited = tmp_path / "vectors.json"
    edited.write_text(json.dumps(document), encoding="utf-8")
    out = io.StringIO()

    status = check_file(str(edited), out)

    lines = out.getvalue().splitlines()
    assert status == 1
    assert lines[0] == (
        f"{flipped['id']} neg-body-byte-changed: expected accept, got reject (mismatch)"
    )
    assert lines[-1].endswith(" passed, 1 failed")


@needs_vectors
def test_unknown_access_key_is_rejected_by_the_runner():
    document = json.loads(VECTORS.read_text(encoding="utf-8"))
    vector = next(v for v in document["vectors"] if v["name"] == "hmac-sha256-get-minimal")
    server = {**vector["server"], "credentials": []}

    verdict = judge(base64.b64decode(vector["http_request"]["raw_base64"]), server)

    assert (verdict.accepted, verdict.reason) == (False, "unknown_access_key")


# --------------------------------------------------------------------------- SDK-signed requests

NOW = 1741944413  # 2025-03-14T09:26:53Z
SDK_DATE = "20250314T092653Z"
SIXTEEN_MINUTES_AGO = "20250314T091053Z"
AK = "TBWS424A57JKIQ74CWKP"
SK = "VyANTsTEV6AjotGEJB2xKtIr9yGec8sSFX1rCbqz"
OTHER_SK = "Qm1cdmB7gwL2lw2zYqcYVh3oZkq0CyxlYxZ0V3Tw"
TOKEN = "gQpjbi1ub3J0aC00i+/=token"
REGION, SERVICE = "cn-north-4", "codeartsbuild"
SM2_ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123

SIGNERS = {
    "SDK-HMAC-SHA256": Signer,
    "SDK-HMAC-SM3": SM3Signer,
    "V11-HMAC-SHA256": DerivationAKSKSigner,
    "SDK-ECDSA-P256-SHA256": P256SHA256Signer,
    "SDK-SM2-SM3": SM2SM3Signer,
}


def sdk_signed(
    algorithm: str,
    *,
    date: str = SDK_DATE,
    token: str | None = None,
    sk: str = SK,
    path: str = "/v1/projects/my proj/café",
    query: tuple = (("limit", 10), ("name", "a b+c"), ("ids", [9, 10, 100]), ("deep", True)),
    body: bytes = b'{"name": "job", "count": 3}',
) -> signing.SignedRequest:
    """Sign with the SDK's own signer class and return what the server would receive."""
    headers = {"Content-Type": "application/json", "X-Sdk-Date": date, "X-Project-Id": "p-1"}
    if token is not None:
        headers["X-Security-Token"] = token  # added by the credentials object before signing
    request = SdkRequest(
        method="POST", schema="https", host="devuc.example.com:8443", resource_path=path,
        query_params=list(query), header_params=headers, body=body,
    )
    signer = SIGNERS[algorithm](BasicCredentials(AK, sk))
    if algorithm == "V11-HMAC-SHA256":
        signer.sign(request, SERVICE, REGION)
    else:
        signer.sign(request)
    return signing.SignedRequest(
        method=request.method,
        target=requote_uri(request.uri),  # what requests puts on the wire
        headers=list(request.header_params.items()),
        body=body,
    )


def check(request: signing.SignedRequest, *, sk: str = SK, token: str | None = None, **options):
    auth = signing.parse_authorization(request.headers)
    assert auth.access == AK
    signing.verify(request, auth, sk, now=NOW, security_token=token, **options)


def reason_of(request: signing.SignedRequest, **options) -> str:
    with pytest.raises(signing.SignatureError) as caught:
        check(request, **options)
    return caught.value.reason


def with_header(request: signing.SignedRequest, name: str, value: str) -> signing.SignedRequest:
    headers = [(n, value if n.lower() == name.lower() else v) for n, v in request.headers]
    return dataclasses.replace(request, headers=headers)


algorithms = pytest.mark.parametrize("algorithm", sorted(SIGNERS))


@algorithms
def test_accepts_a_request_the_sdk_signed(algorithm):
    request = sdk_signed(algorithm)

    assert signing.is_signed(request.headers)
    assert signing.parse_authorization(request.headers).algorithm == algorithm
    check(request)


@algorithms
def test_accepts_a_temporary_key_with_its_security_token(algorithm):
    check(sdk_signed(algorithm, token=TOKEN), token=TOKEN)


@algorithms
def test_accepts_an_empty_body(algorithm):
    check(sdk_signed(algorithm, body=b""))


@algorithms
def test_rejects_a_one_byte_body_change(algorithm):
    request = sdk_signed(algorithm)
    body = bytearray(request.body)
    body[5] ^= 0x01

    assert reason_of(dataclasses.replace(request, body=bytes(body))) == "mismatch"


@algorithms
def test_rejects_a_changed_query(algorithm):
    request = sdk_signed(algorithm)
    assert "limit=10" in request.target

    changed = dataclasses.replace(request, target=request.target.replace("limit=10", "limit=11"))

    assert reason_of(changed) == "mismatch"


@algorithms
def test_rejects_a_changed_signed_header(algorithm):
    request = sdk_signed(algorithm)

    assert reason_of(with_header(request, "X-Project-Id", "p-2")) == "mismatch"


@algorithms
def test_rejects_a_date_sixteen_minutes_old(algorithm):
    assert reason_of(sdk_signed(algorithm, date=SIXTEEN_MINUTES_AGO)) == "expired"


@algorithms
def test_rejects_a_wrong_secret_key(algorithm):
    assert reason_of(sdk_signed(algorithm, sk=OTHER_SK)) == "mismatch"


@algorithms
def test_rejects_a_security_token_sent_with_a_permanent_key(algorithm):
    assert reason_of(sdk_signed(algorithm, token=TOKEN), token=None) == "security_token"


@algorithms
def test_rejects_a_temporary_key_without_its_security_token(algorithm):
    assert reason_of(sdk_signed(algorithm), token=TOKEN) == "security_token"


@algorithms
def test_rejects_a_different_security_token(algorithm):
    request = sdk_signed(algorithm, token=TOKEN)

    assert reason_of(request, token=TOKEN + "x") == "security_token"


@pytest.mark.parametrize(
    ("skew", "accepted"), [(-901, False), (-900, True), (899, True), (900, True), (901, False)]
)
def test_clock_window_is_900_seconds_inclusive_both_ways(skew, accepted):
    request = sdk_signed("SDK-HMAC-SHA256")
    auth = signing.parse_authorization(request.headers)

    if accepted:
        signing.verify(request, auth, SK, now=NOW + skew)
    else:
        with pytest.raises(signing.SignatureError, match="signature expired"):
            signing.verify(request, auth, SK, now=NOW + skew)


def test_rejects_a_signed_header_that_is_repeated():
    request = sdk_signed("SDK-HMAC-SHA256")
    repeated = dataclasses.replace(request, headers=[*request.headers, ("x-project-id", "p-1")])

    assert reason_of(repeated) == "missing_signed_header"


def test_rejects_signed_headers_without_host():
    request = sdk_signed("SDK-HMAC-SHA256")
    auth = signing.parse_authorization(request.headers)
    without_host = dataclasses.replace(
        auth, signed_headers=tuple(h for h in auth.signed_headers if h != "host")
    )

    with pytest.raises(signing.SignatureError) as caught:
        signing.verify(request, without_host, SK, now=NOW)
    assert caught.value.reason == "malformed"


def test_unsigned_headers_may_be_added_or_changed():
    request = sdk_signed("SDK-HMAC-SHA256")
    extra = dataclasses.replace(request, headers=[*request.headers, ("Accept", "*/*")])

    check(with_header(extra, "Accept", "application/json"))


def test_header_values_are_trimmed_of_blanks_but_keep_inner_spaces():
    request = sdk_signed("SDK-HMAC-SHA256")

    check(with_header(request, "X-Project-Id", " \tp-1 \t"))
    assert reason_of(with_header(request, "X-Project-Id", "p -1")) == "mismatch"


def test_reordered_query_verifies_through_the_recanonicalised_form():
    request = sdk_signed("SDK-HMAC-SHA256", query=(("a", "1"), ("b", "2")))
    path, _, query = request.target.partition("?")
    assert query == "a=1&b=2"

    check(dataclasses.replace(request, target=f"{path}?b=2&a=1"))


def test_plus_in_query_is_a_space_for_the_recanonicalised_form():
    # Signed value "a+b" travels as a%2Bb; a form parser reads a raw "+" as a space, so a raw
    # "+" must not be accepted in its place.
    request = sdk_signed("SDK-HMAC-SHA256", query=(("q", "a+b"),))
    path, _, query = request.target.partition("?")
    assert query == "q=a%2Bb"

    assert reason_of(dataclasses.replace(request, target=f"{path}?q=a+b")) == "mismatch"


def test_v11_scope_must_match_date_and_allowed_region_and_service():
    request = sdk_signed("V11-HMAC-SHA256")

    check(request, v11_regions={REGION}, v11_services={SERVICE})
    assert reason_of(request, v11_regions={"cn-south-1"}) == "credential_scope"
    assert reason_of(request, v11_services={"iam"}) == "credential_scope"


@pytest.mark.parametrize("algorithm", ["SDK-ECDSA-P256-SHA256", "SDK-SM2-SM3"])
@pytest.mark.parametrize("signature", ["00", "3006020100020100", "abc", "30" + "ff" * 70])
def test_asymmetric_garbage_signatures_are_mismatches(algorithm, signature):
    request = sdk_signed(algorithm)
    auth = dataclasses.replace(signing.parse_authorization(request.headers), signature=signature)

    with pytest.raises(signing.SignatureError) as caught:
        signing.verify(request, auth, SK, now=NOW)
    assert caught.value.reason == "mismatch"


def test_sm2_signature_with_s_out_of_range_is_rejected():
    # s and s + n name the same curve point: a verifier that reduced s modulo n would accept.
    request = sdk_signed("SDK-SM2-SM3")
    auth = signing.parse_authorization(request.headers)
    r, s = decode_dss_signature(bytes.fromhex(auth.signature))
    shifted = encode_dss_signature(r, s + SM2_ORDER).hex()

    check(request)
    with pytest.raises(signing.SignatureError) as caught:
        signing.verify(request, dataclasses.replace(auth, signature=shifted), SK, now=NOW)
    assert caught.value.reason == "mismatch"


# --------------------------------------------------------------------------- canonical URI (§4.5)


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        ("/", "/"),
        ("/v1/items", "/v1/items/"),
        ("/v1/items/", "/v1/items/"),
        ("/v1//items//x", "/v1//items//x/"),
        ("/v1/files/my%20file.txt", "/v1/files/my%20file.txt/"),
        ("/v1/objects/a%2Fb%2Fc", "/v1/objects/a/b/c/"),
        ("/v1/projects/my%20proj/caf%C3%A9", "/v1/projects/my%20proj/caf%C3%A9/"),
        ("/v1/raw/%FF%FEx", "/v1/raw/%EF%BF%BD%EF%BF%BDx/"),
        (
            "/v1/a:b@c!d$e&f'g(h)i*j+k,l;m=n",
            "/v1/a%3Ab%40c%21d%24e%26f%27g%28h%29i%2Aj%2Bk%2Cl%3Bm%3Dn/",
        ),
        ("/v1/~user/~home", "/v1/~user/~home/"),
        ("/v1/~user/%7Ehome", "/v1/~user/~home/"),
        ("/v1/x%2520y", "/v1/x%2520y/"),
        ("/v1/100%zz", "/v1/100%25zz/"),
    ],
)
def test_canonical_uri(raw_path, expected):
    assert signing.canonical_uri(raw_path.encode("ascii")) == expected


# --------------------------------------------------------------------------- Authorization header

GOOD = (
    "SDK-HMAC-SHA256 Access=AKAKAKAKAKAKAKAKAKAK, SignedHeaders=host;x-sdk-date, Signature="
    + "ab" * 32
)


def test_parse_v11_authorization():
    value = (
        "V11-HMAC-SHA256 Credential=UR3YVJV3HM7XHH42SGQP/20240305/ap-southeast-3/iam, "
        "SignedHeaders=content-type;host;x-sdk-date, Signature=" + "08" * 32
    )

    auth = signing.parse_authorization([("authorization", value)])

    assert auth == signing.AuthorizationInfo(
        algorithm="V11-HMAC-SHA256",
        access="UR3YVJV3HM7XHH42SGQP",
        signed_headers=("content-type", "host", "x-sdk-date"),
        signature="08" * 32,
        scope_date="20240305",
        region="ap-southeast-3",
        service="iam",
    )
    assert auth.credential_scope == "20240305/ap-southeast-3/iam"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([], "missing"),
        ([("Authorization", GOOD), ("authorization", GOOD)], "malformed"),
        ([("Authorization", GOOD.replace("SHA256", "SHA512"))], "unsupported_algorithm"),
        ([("Authorization", "Bearer abc")], "malformed"),
        ([("Authorization", GOOD.replace(", ", ","))], "malformed"),
        ([("Authorization", GOOD.replace("Access=", "Credential="))], "malformed"),
        ([("Authorization", GOOD.replace("host;", "Host;"))], "malformed"),
        ([("Authorization", GOOD.replace("host;", ";"))], "malformed"),
        ([("Authorization", GOOD.replace("Signature=ab", "Signature=zz"))], "malformed"),
    ],
)
def test_parse_authorization_rejects(headers, reason):
    with pytest.raises(signing.SignatureError) as caught:
        signing.parse_authorization(headers)
    assert caught.value.reason == reason
    assert caught.value.message.startswith("Incorrect IAM authentication information: ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(GOOD, True), (GOOD.replace("SHA256", "SHA512"), True), ("Bearer abc", False), ("", False)],
)
def test_is_signed(value, expected):
    assert signing.is_signed([("Host", "x"), ("AUTHORIZATION", value)]) is expected
    assert signing.is_signed([("Host", "x")]) is False


# --------------------------------------------------------------------------- client-safe messages


def test_mismatch_message_echoes_the_canonical_request_without_secrets():
    request = sdk_signed("SDK-HMAC-SHA256", token=TOKEN, sk=OTHER_SK)

    with pytest.raises(signing.SignatureError) as caught:
        check(request, token=TOKEN)

    message = caught.value.message
    assert message.startswith(
        "Incorrect IAM authentication information: verify aksk signature fail, "
        "canonicalRequest:POST|/v1/projects/my%20proj/caf%C3%A9/|"
    )
    assert "|x-security-token:***|" in message
    assert TOKEN not in message and SK not in message and OTHER_SK not in message


def test_access_key_errors_mask_the_key():
    unknown = signing.unknown_access_key(AK)
    inactive = signing.inactive_access_key(AK)

    assert unknown.message == (
        "Incorrect IAM authentication information: Get secretKey failed,ak:TBWS******CWKP,"
        "err:ak not exist"
    )
    assert inactive.message == (
        "Incorrect IAM authentication information: ak TBWS******CWKP is inactive"
    )
    assert signing.mask_access_key("SHORT") == "******"


# --------------------------------------------------------------------------- raw HTTP parser


def test_parser_dechunks_and_keeps_header_order():
    raw = (
        b"PUT /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nX-A:  spaced  \r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
    )

    request = parse_raw_request(raw)

    assert (request.method, request.target, request.body) == ("PUT", "/v1/x?a=1", b"abcde")
    assert request.headers == [("Host", "h"), ("X-A", "spaced"), ("Transfer-Encoding", "chunked")]


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /x HTTP/1.1\r\nHost: h\r\n",  # no end of header section
        b"GET  /x HTTP/1.1\r\nHost: h\r\n\r\n",  # double space in request line
        b"GET /x HTTP/2\r\nHost: h\r\n\r\n",  # not HTTP/1.x
        b"GET /x HTTP/1.1\r\nHost : h\r\n\r\n",  # space before colon
        b"GET /x HTTP/1.1\r\nX-A: a\r\n folded\r\n\r\n",  # obsolete line folding
        b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc",  # short body
        b"POST /x HTTP/1.1\r\n\r\nabc",  # body without framing
        b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nextra",
    ],
)
def test_parser_rejects_malformed_requests(raw):
    with pytest.raises(RawRequestError):
        parse_raw_request(raw)


@settings(max_examples=300, deadline=None)
@given(secret=st.text(min_size=0, max_size=200), message=st.binary(max_size=300))
def test_hmac_from_cached_key_pads_equals_the_standard_library(secret, message):
    """The SHA-256 HMAC check keeps each key's padded states (signing._sha256_hmac_pads); it must
    agree with hmac.digest for keys shorter than, equal to and longer than the 64-byte block."""
    import hmac as std_hmac

    tag = std_hmac.digest(secret.encode(), message, "sha256")
    auth = signing.AuthorizationInfo(signing.HMAC_SHA256, "AK", ("host",), tag.hex().upper())
    assert signing._check_hmac_sha256(auth, secret, message)
    flipped = bytes([tag[0] ^ 1]) + tag[1:]
    auth.signature = flipped.hex()
    assert not signing._check_hmac_sha256(auth, secret, message)
