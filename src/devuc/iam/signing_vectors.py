"""Run AK/SK signing conformance vectors (``devuc dev check-signing FILE``).

The file format is that of ``testdata/signing-vectors.json``: ``vectors[]`` each carry the raw
bytes a server received (``http_request.raw_base64``), the server clock and credential store
(``server``) and the ``expected_verdict``; ``client_flows[].exchanges[]`` are requests captured
from real SDK clients, all of which must be accepted under their flow's ``server``.

Each request is parsed from its raw bytes by a small, strict HTTP/1.1 parser (chunked bodies are
de-chunked here), then judged by :mod:`devuc.iam.signing` exactly as the service would judge it:
the access key must be in the given credential store, and its stored security token decides
whether the key is temporary.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from devuc.iam import signing

__all__ = ["RawRequestError", "Verdict", "check_file", "judge", "parse_raw_request"]


class RawRequestError(ValueError):
    """The bytes are not a well-formed HTTP/1.1 request."""


_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TARGET = re.compile(rb"[\x21-\x7e]+")
_FIELD_VALUE = re.compile(rb"[^\x00-\x08\x0a-\x1f\x7f]*")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)(?:;[^\r\n]*)?")
_VERSIONS = (b"HTTP/1.1", b"HTTP/1.0")


def _parse_request_line(line: bytes) -> tuple[str, str]:
    parts = line.split(b" ")
    if len(parts) != 3:
        raise RawRequestError("request line must be METHOD SP TARGET SP VERSION")
    method, target, version = parts
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target) or version not in _VERSIONS:
        raise RawRequestError("bad request line")
    return method.decode("ascii"), target.decode("latin-1")


def _parse_field(line: bytes) -> tuple[str, str]:
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):
        raise RawRequestError(f"bad header line {line[:40]!r}")
    if not _FIELD_VALUE.fullmatch(value):
        raise RawRequestError(f"control character in header {name.decode('ascii')}")
    return name.decode("ascii"), value.strip(b" \t").decode("latin-1")


def _dechunk(data: bytes) -> bytes:
    """Undo chunked transfer coding; trailer fields are checked for form and dropped."""
    body = bytearray()
    position = 0
    while True:
        line, position = _read_line(data, position)
        size_match = _CHUNK_SIZE.fullmatch(line)
        if size_match is None:
            raise RawRequestError("bad chunk size line")
        size = int(size_match[1], 16)
        if size == 0:
            break
        chunk_end = position + size
        if len(data) < chunk_end + 2 or data[chunk_end:chunk_end + 2] != b"\r\n":
            raise RawRequestError("chunk shorter than announced or not followed by CRLF")
        body += data[position:chunk_end]
        position = chunk_end + 2
    while True:
        line, position = _read_line(data, position)
        if not line:
            break
        _parse_field(line)
    if position != len(data):
        raise RawRequestError("bytes after the last chunk")
    return bytes(body)


def _read_line(data: bytes, position: int) -> tuple[bytes, int]:
    end = data.find(b"\r\n", position)
    if end < 0:
        raise RawRequestError("line without CRLF")
    return data[position:end], end + 2


def _framed_body(headers: list[tuple[str, str]], rest: bytes) -> bytes:
    """Apply the message framing rules: chunked, Content-Length, or no body."""
    encodings = [value for name, value in headers if name.lower() == "transfer-encoding"]
    lengths = [value for name, value in headers if name.lower() == "content-length"]
    if encodings and lengths:
        raise RawRequestError("both Transfer-Encoding and Content-Length")
    if encodings:
        if [value.lower() for value in encodings] != ["chunked"]:
            raise RawRequestError("only a single 'chunked' transfer coding is supported")
        return _dechunk(rest)
    if lengths:
        if len(lengths) != 1 or not lengths[0].isascii() or not lengths[0].isdigit():
            raise RawRequestError("bad Content-Length")
        if len(rest) != int(lengths[0]):
            raise RawRequestError("body length differs from Content-Length")
        return rest
    if rest:
        raise RawRequestError("body without Content-Length or Transfer-Encoding")
    return rest


def parse_raw_request(raw: bytes) -> signing.SignedRequest:
    """Parse one complete HTTP/1.1 request (CRLF line endings, no obsolete line folding)."""
    head, separator, rest = raw.partition(b"\r\n\r\n")
    if not separator:
        raise RawRequestError("header section not terminated by an empty line")
    request_line, *field_lines = head.split(b"\r\n")
    method, target = _parse_request_line(request_line)
    headers = [_parse_field(line) for line in field_lines]
    body = _framed_body(headers, rest)
    return signing.SignedRequest(method=method, target=target, headers=headers, body=body)


@dataclass(frozen=True)
class Verdict:
    """What the service would answer: accepted, or rejected with a reason."""

    accepted: bool
    reason: str | None = None

    @property
    def label(self) -> str:
        return "accept" if self.accepted else "reject"


def judge(raw: bytes, server: Mapping[str, Any]) -> Verdict:
    """Verify raw request bytes against a ``server`` object (clock and credential store)."""
    credentials = {entry["ak"]: entry for entry in server["credentials"]}
    try:
        request = parse_raw_request(raw)
        auth = signing.parse_authorization(request.headers)
        credential = credentials.get(auth.access)
        if credential is None:
            raise signing.unknown_access_key(auth.access)
        signing.verify(
            request,
            auth,
            credential["sk"],
            now=server["now_epoch"],
            max_skew_seconds=server.get("max_skew_seconds", 900),
            security_token=credential.get("security_token"),
        )
    except RawRequestError as error:
        return Verdict(False, f"bad_http: {error}")
    except signing.SignatureError as error:
        return Verdict(False, error.reason)
    return Verdict(True)


@dataclass(frozen=True)
class _Case:
    id: str
    name: str
    raw: bytes
    server: Mapping[str, Any]
    expected: str


def _cases(document: Mapping[str, Any]) -> Iterator[_Case]:
    for vector in document.get("vectors", []):
        yield _Case(
            id=vector["id"],
            name=vector["name"],
            raw=base64.b64decode(vector["http_request"]["raw_base64"]),
            server=vector["server"],
            expected=vector["expected_verdict"],
        )
    for flow in document.get("client_flows", []):
        for number, exchange in enumerate(flow["exchanges"], start=1):
            request = exchange["request"]
            yield _Case(
                id=f"{flow['name']}#{number}",
                name=f"{request['method']} {request['target']}",
                raw=base64.b64decode(request["raw_base64"]),
                server=flow["server"],
                expected="accept",
            )


def check_file(path: str, out: TextIO = sys.stdout) -> int:
    """Judge every vector and client-flow request of ``path``; print one line per case whose
    verdict differs from the expected one, then ``N passed, M failed``. 0 iff all match."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    passed = failed = 0
    for case in _cases(document):
        verdict = judge(case.raw, case.server)
        if verdict.label == case.expected:
            passed += 1
            continue
        failed += 1
        print(
            f"{case.id} {case.name}: expected {case.expected}, got {verdict.label}"
            f" ({verdict.reason or 'no reason'})",
            file=out,
        )
    print(f"{passed} passed, {failed} failed", file=out)
    return 0 if failed == 0 else 1
