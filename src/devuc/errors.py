"""The error catalogue and the one way errors leave the service.

Every failure is an :class:`ApiError` carrying a catalogue code. :func:`error_body` renders it in
the shape the real cloud uses for the path family (spec/iam.md §2.6):

* gateway shape ``{"error_code", "error_msg", "request_id"}`` for ``APIGW.*`` codes;
* Keystone shape ``{"error": {"code", "title", "message", "error_code", "error_msg"}}`` on
  ``/v3/...`` and ``/v3.0/OS-CREDENTIAL/...``;
* flat shape ``{"error_code", "error_msg"}`` everywhere else (``request_id`` added on the other
  ``/v3.0`` IAM extensions).
"""

from __future__ import annotations

from http import HTTPStatus

# code -> (HTTP status, default message)
CATALOGUE: dict[str, tuple[int, str]] = {
    # API gateway (spec/iam.md §5)
    "APIGW.0101": (404, "The API does not exist or has not been published in the environment."),
    "APIGW.0201": (400, "Request error."),
    "APIGW.0301": (401, "Incorrect IAM authentication information."),
    "APIGW.0302": (403, "The IAM user is not authorized to access the API."),
    "APIGW.0307": (401, "The token must be updated."),
    "APIGW.0308": (429, "The throttling threshold has been reached."),
    # IAM service codes (spec/iam.md §5.3)
    "IAM.0001": (401, "The request you have made requires authentication."),
    "IAM.0002": (403, "You are not authorized to perform the requested action."),
    "IAM.0004": (404, "Could not find the requested resource."),
    "IAM.0005": (409, "Conflict occurred when attempting to store the resource."),
    "IAM.0006": (500, "An unexpected error prevented the server from fulfilling your request."),
    "IAM.0007": (400, "Request parameter is invalid."),
    "IAM.0009": (400, "X-Subject-Token is invalid in the request."),
    "IAM.0011": (400, "Request body is invalid."),
    "IAM.0061": (401, "Account locked."),
    "IAM.0072": (400, "Required property is missing."),
    "IAM.0073": (400, "Invalid value of a field."),
    "IAM.0081": (403, "This user only supports console access, not programmatic access."),
    "IAM.0082": (403, "The user is disabled."),
    "IAM.1101": (400, "The request body size is invalid."),
    "IAM.1102": (400, "The request body contains an invalid value."),
    "IAM.1103": (400, "The request body is missing a required value."),
    "IAM.1107": (400, "The access key is inactive."),
    "IAM.1108": (400, "The security token has expired."),
    # OS-USER validation codes (spec/iam.md §3.10)
    "1100": (400, "A required parameter is missing."),
    "1101": (400, "The user name is invalid."),
    "1102": (400, "The email address is invalid."),
    "1103": (400, "The password does not meet the password policy."),
    "1104": (400, "The mobile number is invalid."),
    "1106": (400, "The country code and the mobile number must be given together."),
    "1109": (400, "The user name already exists."),
    "1110": (400, "The email address has already been used."),
    "1111": (400, "The mobile number has already been used."),
    "1115": (400, "The number of IAM users has reached the maximum allowed."),
    "1117": (400, "The user description is invalid."),
    "1118": (400, "The password is too weak."),
    "1120": (400, "The access mode is invalid."),
}


class ApiError(Exception):
    """A failure with a catalogue code; rendered by the one error handler of the app."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_status, default_message = CATALOGUE[code]
        self.code = code
        self.status = status or default_status
        self.message = message or default_message
        self.headers = headers or {}
        super().__init__(f"{code}: {self.message}")


def field_error(code: str, field: str, problem: str) -> ApiError:
    """A validation failure whose message names the offending field."""
    return ApiError(code, f"Invalid parameter '{field}': {problem}")


def _shape(code: str, path: str) -> str:
    if code.startswith("APIGW."):
        return "gateway"
    if path.startswith("/v3/") or path == "/v3" or path.startswith("/v3.0/OS-CREDENTIAL"):
        return "keystone"
    return "flat"


def error_body(err: ApiError, path: str, request_id: str) -> dict:
    shape = _shape(err.code, path)
    if shape == "gateway":
        return {"error_code": err.code, "error_msg": err.message, "request_id": request_id}
    if shape == "keystone":
        return {
            "error": {
                "code": err.status,
                "title": HTTPStatus(err.status).phrase,
                "message": err.message,
                "error_code": err.code,
                "error_msg": err.message,
            }
        }
    body = {"error_code": err.code, "error_msg": err.message}
    if path.startswith("/v3.0/"):
        body["request_id"] = request_id
    return body
