"""Verify AK/SK request signatures exactly as the official Huawei Cloud SDK produces them.

The authority is ``spec/aksk-signing.md``; this module is pure computation (no I/O, no storage,
no HTTP framework), so the caller looks the access key up and hands over its secret.

How a request is checked
------------------------
A signing client reduces the request to a *canonical request*, hashes it, and signs a short
*string to sign* built from the algorithm name, its ``X-Sdk-Date`` timestamp and that hash.
We rebuild both from the bytes we received and check the signature:

1. ``parse_authorization`` reads the single ``Authorization`` header: algorithm, access key,
   the list of signed header names, the signature (and, for V11, the credential scope
   ``date/region/service``).
2. The signed-header list must name ``host`` and ``x-sdk-date``; every listed header must occur
   exactly once in the request.
3. ``X-Sdk-Date`` must be a real UTC instant in ``YYYYMMDDTHHMMSSZ`` form, no further than
   ``max_skew_seconds`` from the server clock in either direction (the bound itself is allowed).
4. A temporary key must send its stored security token, signed and byte-identical; a permanent
   key must not send any token. V11 additionally needs its scope date to be the date of
   ``X-Sdk-Date`` (and, when the caller restricts them, an allowed region and service).
5. The canonical request is ``METHOD``, the canonical URI, the query, one ``name:value`` line per
   signed header, the signed-header list and the payload hash, joined by line feeds:

   * canonical URI: take the raw path, percent-decode it once (UTF-8, invalid bytes become
     U+FFFD), split it on ``/``, percent-encode every segment again keeping only
     ``A-Z a-z 0-9 - _ . ~`` and make sure it ends with ``/``;
   * query: first exactly as received; if that fails, a re-sorted, re-encoded form (decoded the
     way form parsers decode, so ``+`` is a space) as a courtesy to non-SDK clients;
   * header values are the received octets without surrounding blanks;
   * payload hash: the body's hash; a content-hash header (``X-Sdk-Content-Sha256`` or
     ``X-Sdk-Content-Sm3``) replaces it for a non-empty body and must then be either
     ``UNSIGNED-PAYLOAD`` or the true hash; for an empty body both the empty-input hash and the
     header's value are tried, because the SDK signs ``UNSIGNED-PAYLOAD`` for empty streams.
6. The signature is checked with the algorithm's primitive: HMAC keyed by the secret key
   (SHA-256 or SM3), HMAC-SHA256 keyed by the hex text of an HKDF-derived key (V11), or an
   ECDSA P-256 / SM2 verification against a key pair derived deterministically from AK and SK.
   HMAC results are compared in constant time.

Failure reasons
---------------
Every failure raises :class:`SignatureError` with a short ``reason`` and a client-safe
``message`` worded like the gateway's ``APIGW.0301`` texts (``spec/iam.md`` §5.2):

========================  ==============================================================
``missing``               no ``Authorization`` header at all
``malformed``             repeated or unparseable ``Authorization``, bad signed-header list,
                          repeated content-hash header, request text not in ``encoding``
``unsupported_algorithm`` an algorithm name we do not implement
``unknown_access_key``    the access key does not exist (raised by the caller's lookup)
``inactive_access_key``   the access key or its owner is disabled (raised by the caller)
``missing_signed_header`` a signed header is absent or occurs more than once (for
                          ``x-sdk-date`` and ``x-security-token`` the reason is
                          ``expired`` / ``security_token``, as §5.2 words those cases)
``expired``               ``X-Sdk-Date`` absent, malformed or outside the clock window
``security_token``        security-token rules of a temporary or permanent key violated
``credential_scope``      V11 scope date, region or service does not fit the request
``payload_hash``          a content-hash header that is neither the body hash nor unsigned
``mismatch``              the signature does not verify
========================  ==============================================================

Messages never contain the secret key; access keys are masked and the security token is
blanked out of the canonical request echoed on a mismatch.

Cost: the HMAC algorithms take some 15-20 microseconds per request and ECDSA P-256 under
0.1 ms (OpenSSL through ``cryptography``); SM2 runs in pure Python (gmssl) at about 10 ms, the
derived public keys of both being cached per (AK, SK).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from gmssl import sm2

__all__ = [
    "ALGORITHMS",
    "AuthorizationInfo",
    "SignatureError",
    "SignedRequest",
    "canonical_uri",
    "debug_view",
    "inactive_access_key",
    "index_headers",
    "index_raw_headers",
    "is_signed",
    "is_signed_value",
    "mask_access_key",
    "parse_authorization",
    "parse_authorization_values",
    "unknown_access_key",
    "verify",
]

HMAC_SHA256 = "SDK-HMAC-SHA256"
HMAC_SM3 = "SDK-HMAC-SM3"
V11_HMAC_SHA256 = "V11-HMAC-SHA256"
ECDSA_P256_SHA256 = "SDK-ECDSA-P256-SHA256"
SM2_SM3 = "SDK-SM2-SM3"
ALGORITHMS = frozenset({HMAC_SHA256, HMAC_SM3, V11_HMAC_SHA256, ECDSA_P256_SHA256, SM2_SM3})

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_DATE_HEADER = "x-sdk-date"
_HOST_HEADER = "host"
_TOKEN_HEADER = "x-security-token"
MESSAGE_PREFIX = "Incorrect IAM authentication information: "


# --------------------------------------------------------------------------- public data types


# The two request-scoped records below are plain (not frozen) slotted dataclasses: they are
# built on every signed call, and a frozen dataclass's __init__ costs several times as much.


@dataclass(slots=True)
class SignedRequest:
    """A request as received, before any framework normalisation.

    ``target`` is the raw request-target (path plus ``?`` and the raw query, percent-encoding
    untouched); ``headers`` are in wire order with names in any case; ``body`` is de-chunked.
    ``encoding`` names the codec that turned the wire octets of ``target`` and of the header
    values into ``str``; it is used to get those octets back (ASGI and WSGI servers use
    ISO-8859-1, which maps every octet to one character). ``index``: ``index_headers(headers)``,
    when the caller has already built it; ``headers`` may then be left empty.
    """

    method: str
    target: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    encoding: str = "latin-1"
    index: dict[str, list[str]] | None = None


@dataclass(slots=True)
class AuthorizationInfo:
    """The parsed ``Authorization`` header. ``scope_date``/``region``/``service``: V11 only."""

    algorithm: str
    access: str
    signed_headers: tuple[str, ...]
    signature: str
    scope_date: str | None = None
    region: str | None = None
    service: str | None = None

    @property
    def credential_scope(self) -> str:
        """``date/region/service``, the V11 ``info`` string."""
        return f"{self.scope_date}/{self.region}/{self.service}"


class SignatureError(Exception):
    """A rejected signature: ``reason`` for code and logs, ``message`` for the client."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.message = MESSAGE_PREFIX + detail
        super().__init__(self.message)


def mask_access_key(access_key: str) -> str:
    """Keep the first and last four characters of an access key, hide the rest."""
    if len(access_key) < 12:
        return "******"
    return f"{access_key[:4]}******{access_key[-4:]}"


def unknown_access_key(access_key: str) -> SignatureError:
    """The error for an access key that the credential store does not know."""
    return SignatureError(
        "unknown_access_key",
        f"Get secretKey failed,ak:{mask_access_key(access_key)},err:ak not exist",
    )


def inactive_access_key(access_key: str) -> SignatureError:
    """The error for a disabled access key, or one whose owner is disabled."""
    return SignatureError("inactive_access_key", f"ak {mask_access_key(access_key)} is inactive")


def _malformed(detail: str) -> SignatureError:
    return SignatureError("malformed", detail)


def _expired() -> SignatureError:
    return SignatureError("expired", "calc ak sk signature fail:signature expired")


def _bad_security_token() -> SignatureError:
    return SignatureError("security_token", "security token invalid")


# --------------------------------------------------------------------------- Authorization header

_ALGORITHM_LABEL = re.compile(r"(?:SDK|V[0-9]+)-[A-Z0-9-]+")
_BASIC_AUTHORIZATION = re.compile(
    r"[A-Z0-9-]+ Access=(?P<ak>[^,/]+), "
    r"SignedHeaders=(?P<signed>[^,]*), Signature=(?P<sig>[0-9a-fA-F]+)"
)
_V11_AUTHORIZATION = re.compile(
    r"[A-Z0-9-]+ Credential=(?P<ak>[^,/]+)/(?P<date>[0-9]{8})/(?P<region>[^,/]+)"
    r"/(?P<service>[^,/]+), SignedHeaders=(?P<signed>[^,]*), Signature=(?P<sig>[0-9a-fA-F]+)"
)
_HEADER_NAME = r"[0-9a-z!#$%&'*+.^_`|~-]+"  # a lower-case HTTP token
_SIGNED_HEADER_NAME = re.compile(_HEADER_NAME)
# The whole of a well-formed SDK-* value in one match (what every SDK sends): the grammar above,
# with the SignedHeaders names checked as part of the match. Anything it does not match goes the
# step-by-step way, which names what is wrong.
_HEADER_NAMES = rf"{_HEADER_NAME}(?:;{_HEADER_NAME})*"
_WELL_FORMED_SDK = re.compile(
    r"[ \t]*(SDK-[A-Z0-9-]+) Access=([^,/]+), "
    rf"SignedHeaders=({_HEADER_NAMES}), Signature=([0-9a-fA-F]+)[ \t]*"
)


_COMMON_LABEL = HMAC_SHA256 + " "


def _algorithm_label(value: str) -> str:
    return value.strip(" \t").split(" ", 1)[0]


def is_signed(headers: Iterable[tuple[str, str]]) -> bool:
    """True when an ``Authorization`` header carries something shaped like a Huawei signing
    algorithm (``SDK-...`` or ``V<n>-...``), known or not; such requests belong to AK/SK
    verification, which then rejects unknown algorithms with a precise reason."""
    return any(
        name.lower() == "authorization" and is_signed_value(value) for name, value in headers
    )


def is_signed_value(authorization: str) -> bool:
    """``is_signed`` for one ``Authorization`` value."""
    if authorization.startswith(_COMMON_LABEL):  # what nearly every signed request starts with
        return True
    return _ALGORITHM_LABEL.fullmatch(_algorithm_label(authorization)) is not None


def parse_authorization(headers: Iterable[tuple[str, str]]) -> AuthorizationInfo:
    """Parse the one ``Authorization`` header into its parts (grammar of spec §3, §4.1.1)."""
    return parse_authorization_values(
        [value for name, value in headers if name.lower() == "authorization"]
    )


def parse_authorization_values(values: Sequence[str]) -> AuthorizationInfo:
    """``parse_authorization`` given every value of the ``Authorization`` header."""
    if len(values) == 1:
        match = _WELL_FORMED_SDK.fullmatch(values[0])
        if match is not None and match[1] in ALGORITHMS:
            algorithm, access, signed, signature = match.groups()
            return AuthorizationInfo(algorithm, access, tuple(signed.split(";")), signature)
    return _parse_step_by_step(values)


def _parse_step_by_step(values: Sequence[str]) -> AuthorizationInfo:
    """The grammar applied one part at a time, so that a refusal says which part is wrong."""
    if not values:
        raise SignatureError("missing", "x-auth-token not found")
    if len(values) > 1:
        raise _malformed("Authorization header repeated")
    value = values[0].strip(" \t")
    algorithm = _algorithm_label(value)
    if algorithm not in ALGORITHMS:
        if _ALGORITHM_LABEL.fullmatch(algorithm):
            raise SignatureError("unsupported_algorithm", "unsupported signing algorithm")
        raise _malformed("Authorization header malformed")
    grammar = _V11_AUTHORIZATION if algorithm == V11_HMAC_SHA256 else _BASIC_AUTHORIZATION
    match = grammar.fullmatch(value)
    if match is None:
        raise _malformed("Authorization header malformed")
    signed_headers = tuple(match["signed"].split(";"))
    if not all(_SIGNED_HEADER_NAME.fullmatch(name) for name in signed_headers):
        raise _malformed("SignedHeaders malformed")
    parts = match.groupdict()
    return AuthorizationInfo(
        algorithm=algorithm,
        access=parts["ak"],
        signed_headers=signed_headers,
        signature=parts["sig"],
        scope_date=parts.get("date"),
        region=parts.get("region"),
        service=parts.get("service"),
    )


# --------------------------------------------------------------------------- hash families


@dataclass(frozen=True)
class _HashFamily:
    content_header: str  # lowercase name of the header that may replace the body hash
    digest: Callable[[bytes], bytes]
    empty_hash: str


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def _hmac_sm3(key: bytes, message: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(message)
    return mac.finalize()


_SHA256_FAMILY = _HashFamily("x-sdk-content-sha256", _sha256, _sha256(b"").hex())
_SM3_FAMILY = _HashFamily("x-sdk-content-sm3", _sm3, _sm3(b"").hex())


# --------------------------------------------------------------------------- signature checks
# Each check takes (auth, secret key, string to sign) and answers whether the signature holds.


def _tag_matches(tag: bytes, signature: str) -> bool:
    # The Authorization grammar admits hex digits only, so both sides are ASCII text.
    return hmac.compare_digest(tag.hex(), signature.lower())


@lru_cache(maxsize=4096)
def _sha256_hmac_pads(secret_key: str) -> tuple[Any, Any]:
    """SHA-256 states after the HMAC inner and outer key blocks (RFC 2104) of one secret key:
    each signed call of that key then hashes only its message. Held per node, like the key
    cache that holds the secret itself (principal._KeyEntry)."""
    key = secret_key.encode()
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    return (hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD)))


_SHA256_BLOCK = 64
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


def _check_hmac_sha256(auth: AuthorizationInfo, secret_key: str, string_to_sign: bytes) -> bool:
    inner_pad, outer_pad = _sha256_hmac_pads(secret_key)
    inner = inner_pad.copy()
    inner.update(string_to_sign)
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return _tag_matches(outer.digest(), auth.signature)


def _check_hmac_sm3(auth: AuthorizationInfo, secret_key: str, string_to_sign: bytes) -> bool:
    return _tag_matches(_hmac_sm3(secret_key.encode(), string_to_sign), auth.signature)


def _v11_signing_key(access_key: str, secret_key: str, scope: str) -> bytes:
    """HKDF-SHA256 (salt = AK, input = SK, info = scope); the SDK keys its HMAC with the
    *hex text* of the 32 derived bytes, not with the bytes themselves."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=access_key.encode(), info=scope.encode()
    ).derive(secret_key.encode())
    return derived.hex().encode()


def _check_v11(auth: AuthorizationInfo, secret_key: str, string_to_sign: bytes) -> bool:
    key = _v11_signing_key(auth.access, secret_key, auth.credential_scope)
    return _tag_matches(_hmac_sha256(key, string_to_sign), auth.signature)


def _derive_private_value(
    algorithm: str,
    prf: Callable[[bytes, bytes], bytes],
    order: int,
    access_key: str,
    secret_key: str,
) -> int:
    """The SDK's deterministic private key for the asymmetric algorithms (spec §7.1)."""
    for counter in range(255):
        data = b"".join((
            b"\x00\x00\x00\x01", algorithm.encode(), b"\x00",
            access_key.encode(), bytes((counter,)), b"\x00\x00\x01\x00",
        ))
        candidate = int.from_bytes(prf(secret_key.encode(), data), "big")
        if candidate <= order - 2:
            return candidate + 1
    raise SignatureError("mismatch", "verify aksk signature fail")


_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@lru_cache(maxsize=4096)
def _p256_public_key(access_key: str, secret_key: str) -> ec.EllipticCurvePublicKey:
    value = _derive_private_value(
        ECDSA_P256_SHA256, _hmac_sha256, _P256_ORDER, access_key, secret_key
    )
    return ec.derive_private_key(value, ec.SECP256R1()).public_key()


def _check_ecdsa_p256(auth: AuthorizationInfo, secret_key: str, string_to_sign: bytes) -> bool:
    public_key = _p256_public_key(auth.access, secret_key)
    try:
        public_key.verify(bytes.fromhex(auth.signature), string_to_sign, ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature):  # odd-length hex, or a signature that does not hold
        return False
    return True


_SM2_CURVE = sm2.default_ecc_table
_SM2_ORDER = int(_SM2_CURVE["n"], 16)
_SM2_USER_ID = b"1234567812345678"


def _minimal_bytes(hex_value: str) -> bytes:
    number = int(hex_value, 16)
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def _sm2_z(public_hex: str) -> bytes:
    """Z_A of GB/T 32918.2 with the SDK's twist: every field element is written in its
    minimal big-endian length, so a coordinate below 2^248 loses its leading zero bytes."""
    generator = _SM2_CURVE["g"]
    fields = (
        _SM2_CURVE["a"], _SM2_CURVE["b"], generator[:64], generator[64:],
        public_hex[:64], public_hex[64:],
    )
    entl = (len(_SM2_USER_ID) * 8).to_bytes(2, "big")
    return _sm3(entl + _SM2_USER_ID + b"".join(_minimal_bytes(field) for field in fields))


def _der_signature(signature: str) -> tuple[int, int] | None:
    try:
        return decode_dss_signature(bytes.fromhex(signature))
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _sm2_key(access_key: str, secret_key: str) -> tuple[sm2.CryptSM2, bytes]:
    """A gmssl verifier for the key pair the SDK derives from (AK, SK), and its Z_A."""
    value = _derive_private_value(SM2_SM3, _hmac_sm3, _SM2_ORDER, access_key, secret_key)
    verifier = sm2.CryptSM2(private_key="", public_key="")
    # gmssl offers no public call for d*G; _kg is its scalar multiplication. The key is set
    # after construction because the constructor strips leading "0"/"4" digits from keys
    # that start with "04", which would corrupt about one key in 256.
    verifier.public_key = verifier._kg(value, _SM2_CURVE["g"])
    return verifier, _sm2_z(verifier.public_key)


def _check_sm2_sm3(auth: AuthorizationInfo, secret_key: str, string_to_sign: bytes) -> bool:
    signature = _der_signature(auth.signature)
    if signature is None:
        return False
    r, s = signature
    # GB/T 32918.2 step 1; it also keeps r and s within the 64 hex digits gmssl slices, and
    # gmssl would compute 0*G as G.
    if not (1 <= r < _SM2_ORDER and 1 <= s < _SM2_ORDER):
        return False
    verifier, z = _sm2_key(auth.access, secret_key)
    digest = _sm3(z + string_to_sign)
    try:
        return bool(verifier.verify(f"{r:064x}{s:064x}", digest))
    except TypeError:  # gmssl yields None for the point at infinity, which verifies nothing
        return False


@dataclass(frozen=True)
class _Algorithm:
    family: _HashFamily
    check: Callable[[AuthorizationInfo, str, bytes], bool]


_ALGORITHM_TABLE = {
    HMAC_SHA256: _Algorithm(_SHA256_FAMILY, _check_hmac_sha256),
    HMAC_SM3: _Algorithm(_SM3_FAMILY, _check_hmac_sm3),
    V11_HMAC_SHA256: _Algorithm(_SHA256_FAMILY, _check_v11),
    ECDSA_P256_SHA256: _Algorithm(_SHA256_FAMILY, _check_ecdsa_p256),
    SM2_SM3: _Algorithm(_SM3_FAMILY, _check_sm2_sm3),
}


# --------------------------------------------------------------------------- canonical request

_PLAIN_PATH = re.compile(rb"[A-Za-z0-9._~/-]*")


@lru_cache(maxsize=1024)
def canonical_uri(path: bytes) -> str:
    """The canonical URI of a raw path (octets before the first ``?``), spec §4.5."""
    if _PLAIN_PATH.fullmatch(path):
        text = path.decode("ascii")
    else:
        decoded = unquote_to_bytes(path).decode("utf-8", "replace")
        text = "/".join(quote(segment, safe="~") for segment in decoded.split("/"))
    return text if text.endswith("/") else text + "/"


def _form_decode(octets: bytes) -> str:
    return unquote_to_bytes(octets.replace(b"+", b" ")).decode("utf-8", "replace")


def _recanonicalized_query(query: bytes) -> str:
    """The query re-sorted by decoded (key, value) and re-encoded as the SDK encodes."""
    pairs = sorted(
        (_form_decode(key), _form_decode(value))
        for key, _, value in (part.partition(b"=") for part in query.split(b"&") if part)
    )
    return "&".join(f"{quote(key, safe='~')}={quote(value, safe='~')}" for key, value in pairs)


def _to_octets(text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        raise _malformed(f"request text is not {encoding}") from None


def index_headers(headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Each header's values by lower-case name, without surrounding blanks (what verification
    reads; build it once with this and pass it as ``SignedRequest.index``)."""
    index: dict[str, list[str]] = {}
    for name, value in headers:
        index.setdefault(name.lower(), []).append(value.strip(" \t"))
    return index


def index_raw_headers(raw: Iterable[tuple[bytes, bytes]], encoding: str = "latin-1") -> dict[str, list[str]]:
    """``index_headers`` straight from an ASGI scope's ``headers`` (octets), decoded with
    ``encoding`` (the ``SignedRequest.encoding`` the index goes with)."""
    index: dict[str, list[str]] = {}
    for name, value in raw:
        key = name.decode(encoding).lower()
        text = value.decode(encoding).strip(" \t")
        values = index.get(key)
        if values is None:
            index[key] = [text]
        else:
            values.append(text)
    return index


_MISSING_HEADER_ERRORS = {_DATE_HEADER: _expired, _TOKEN_HEADER: _bad_security_token}


def _signed_header_values(
    signed_headers: Sequence[str], index: dict[str, list[str]]
) -> dict[str, str]:
    """The value of every signed header, which must occur exactly once (spec §4.1)."""
    if _HOST_HEADER not in signed_headers or _DATE_HEADER not in signed_headers:
        raise _malformed("SignedHeaders must include host and x-sdk-date")
    values = {}
    for name in signed_headers:
        occurrences = index.get(name, ())
        if len(occurrences) != 1:
            error = _MISSING_HEADER_ERRORS.get(name)
            raise error() if error else SignatureError(
                "missing_signed_header", f"signed header {name} missing or repeated"
            )
        values[name] = occurrences[0]
    return values


_SDK_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")


def _check_date(value: str, now: float, max_skew_seconds: int) -> None:
    signed_at = _sdk_date(value)
    if signed_at is None or abs(now - signed_at) > max_skew_seconds:
        raise _expired()


@lru_cache(maxsize=4096)
def _sdk_date(value: str) -> float | None:
    """The instant an X-Sdk-Date names, or None if it names none (requests signed within the
    same second share one parse)."""
    match = _SDK_DATE.fullmatch(value)
    if match is None:
        return None
    try:
        return datetime(*map(int, match.groups()), tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _check_security_token(
    expected: str | None, signed: dict[str, str], index: dict[str, list[str]], encoding: str
) -> None:
    """Temporary keys send their token as a signed header; permanent keys send none (§4.3)."""
    if expected is None:
        if _TOKEN_HEADER in index:
            raise _bad_security_token()
        return
    sent = signed.get(_TOKEN_HEADER)
    if sent is None or not hmac.compare_digest(_to_octets(sent, encoding), expected.encode()):
        raise _bad_security_token()


def _check_scope(
    auth: AuthorizationInfo,
    date: str,
    regions: Collection[str] | None,
    services: Collection[str] | None,
) -> None:
    if (
        auth.scope_date != date[:8]
        or (regions is not None and auth.region not in regions)
        or (services is not None and auth.service not in services)
    ):
        raise SignatureError("credential_scope", "credential scope does not match the request")


def _payload_hashes(body: bytes, index: dict[str, list[str]], family: _HashFamily) -> list[str]:
    """Payload-hash candidates (spec §4.8)."""
    declared = index.get(family.content_header, ())
    if len(declared) > 1:
        raise _malformed(f"{family.content_header} repeated")
    content_hash = declared[0] if declared else None
    if not body:
        if content_hash is None or content_hash == family.empty_hash:
            return [family.empty_hash]
        return [family.empty_hash, content_hash]
    if content_hash is None:
        return [family.digest(body).hex()]
    if content_hash != UNSIGNED_PAYLOAD and content_hash.lower() != family.digest(body).hex():
        raise SignatureError(
            "payload_hash",
            f"verify aksk signature fail, {family.content_header} does not match the body",
        )
    return [content_hash]


def _query_candidates(query: str, encoding: str) -> Iterator[str]:
    """The query exactly as received, then its re-canonicalised form if that differs."""
    yield query
    alternative = _recanonicalized_query(_to_octets(query, encoding))
    if alternative != query:
        yield alternative


def _string_to_sign(auth: AuthorizationInfo, date: str, canonical_hash: bytes) -> bytes:
    if auth.algorithm == V11_HMAC_SHA256:
        return f"{auth.algorithm}\n{date}\n{auth.credential_scope}\n{canonical_hash.hex()}".encode()
    return f"{auth.algorithm}\n{date}\n{canonical_hash.hex()}".encode()


def _headers_part(signed_headers: Sequence[str], values: dict[str, str]) -> str:
    """The header lines, the blank line and the signed-header list of a canonical request."""
    lines = "".join([f"{name}:{values[name]}\n" for name in signed_headers])
    return f"{lines}\n{';'.join(signed_headers)}\n"


def _mismatch(
    head: str,
    query: str,
    auth: AuthorizationInfo,
    signed: dict[str, str],
    payload_hash: str,
    encoding: str,
) -> SignatureError:
    """The mismatch error, echoing our canonical request with the security token blanked."""
    shown = {**signed, _TOKEN_HEADER: "***"} if _TOKEN_HEADER in signed else signed
    text = f"{head}{query}\n{_headers_part(auth.signed_headers, shown)}{payload_hash}"
    readable = _to_octets(text, encoding).decode("utf-8", "replace")
    return SignatureError(
        "mismatch", "verify aksk signature fail, canonicalRequest:" + readable.replace("\n", "|")
    )


# --------------------------------------------------------------------------- verification


def verify(
    req: SignedRequest,
    auth: AuthorizationInfo,
    secret_key: str,
    *,
    now: float,
    max_skew_seconds: int = 900,
    security_token: str | None = None,
    v11_regions: Collection[str] | None = None,
    v11_services: Collection[str] | None = None,
) -> None:
    """Return when the signature holds, raise :class:`SignatureError` otherwise.

    ``secret_key`` and ``security_token`` are what the server stores for ``auth.access``
    (``security_token`` is None for a permanent key). ``now`` is the server clock in Unix
    seconds. ``v11_regions``/``v11_services``, when given, restrict the V11 credential scope.
    """
    algorithm = _ALGORITHM_TABLE.get(auth.algorithm)
    if algorithm is None:
        raise SignatureError("unsupported_algorithm", "unsupported signing algorithm")
    index = req.index if req.index is not None else index_headers(req.headers)
    signed = _signed_header_values(auth.signed_headers, index)
    date = signed[_DATE_HEADER]
    _check_date(date, now, max_skew_seconds)
    _check_security_token(security_token, signed, index, req.encoding)
    if auth.algorithm == V11_HMAC_SHA256:
        _check_scope(auth, date, v11_regions, v11_services)
    payload_hashes = _payload_hashes(req.body, index, algorithm.family)

    path, _, query = req.target.partition("?")
    head = f"{req.method.upper()}\n{canonical_uri(_to_octets(path, req.encoding))}\n"
    headers_part = _headers_part(auth.signed_headers, signed)
    for query_text in _query_candidates(query, req.encoding):
        for payload_hash in payload_hashes:
            canonical = f"{head}{query_text}\n{headers_part}{payload_hash}"
            canonical_hash = algorithm.family.digest(_to_octets(canonical, req.encoding))
            if algorithm.check(auth, secret_key, _string_to_sign(auth, date, canonical_hash)):
                return
    raise _mismatch(head, query, auth, signed, payload_hashes[0], req.encoding)


# --------------------------------------------------------------------------- after a failure


def debug_view(req: SignedRequest, auth: AuthorizationInfo) -> dict[str, str]:
    """What the server computed for a refused signed request, for developer mode: the canonical
    request (with the query in the SDK's canonical order) and the string to sign, so a client
    author can compare them with their own. Called only once verification has failed; the
    success path never builds it. Nothing secret: the security token header reads ``***`` and
    nothing derived from the secret key is included. Empty when the request is too malformed to
    have a canonical form (e.g. a signed header missing)."""
    algorithm = _ALGORITHM_TABLE.get(auth.algorithm)
    if algorithm is None:
        return {}
    family = algorithm.family
    try:
        index = req.index if req.index is not None else index_headers(req.headers)
        signed = _signed_header_values(auth.signed_headers, index)
        try:
            payload_hash = _payload_hashes(req.body, index, family)[0]
        except SignatureError:  # a content hash header that does not match: show the body's
            payload_hash = family.digest(req.body).hex()
        path, _, query = req.target.partition("?")
        head = f"{req.method.upper()}\n{canonical_uri(_to_octets(path, req.encoding))}\n"
        query_text = list(_query_candidates(query, req.encoding))[-1]
        canonical = f"{head}{query_text}\n{_headers_part(auth.signed_headers, signed)}{payload_hash}"
        digest = family.digest(_to_octets(canonical, req.encoding))
    except SignatureError:
        return {}
    shown = {**signed, _TOKEN_HEADER: "***"} if _TOKEN_HEADER in signed else signed
    shown_text = f"{head}{query_text}\n{_headers_part(auth.signed_headers, shown)}{payload_hash}"
    return {
        "canonical_request": _to_octets(shown_text, req.encoding).decode("utf-8", "replace"),
        "string_to_sign": _string_to_sign(auth, signed[_DATE_HEADER], digest).decode(),
    }
