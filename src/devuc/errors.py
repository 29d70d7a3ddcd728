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
    "1108": (400, "The new password must differ from the current password."),
    "1109": (400, "The user name already exists."),
    "1110": (400, "The email address has already been used."),
    "1111": (400, "The mobile number has already been used."),
    "1115": (400, "The number of IAM users has reached the maximum allowed."),
    "1117": (400, "The user description is invalid."),
    "1118": (400, "The password is too weak."),
    "1120": (400, "The access mode is invalid."),
    # CodeArts ProjectMan (spec/projectman.md §6.1): HTTP 400 except the internal error
    "PM.00000001": (400, "Parameter error."),
    "PM.02150010": (400, "The target user is not a member of the project; add the user first."),
    "PM.02150301": (400, "Deletion failed."),
    "PM.02150302": (400, "The permission setting cannot be changed."),
    "PM.02150303": (400, "The role does not exist."),
    "PM.02152005": (400, "The project does not exist or has been deleted."),
    "PM.02152010": (400, "The project type does not allow this operation."),
    "PM.02174103": (400, "No permission to perform the operation."),
    "PM.02175000": (500, "The system is busy. Try again later."),
    # CodeArts Build (spec/projectman.md §6.2)
    "CB.00060200": (400, "Invalid parameter."),
    "CB.00060201": (400, "Invalid task ID."),
    "CB.00060214": (404, "URL not found."),
    "CB.00060101": (500, "Internal service error."),
    # CodeArts User Center, as the seed's table lists them (seeds/000_468a54634c4d5529.txt §6.2);
    # used by the devuc extension routes for roles, matrices and tenant settings
    "UC.00011002": (400, "Invalid parameter."),
    "UC.00011003": (401, "No permission."),
    "UC.00011004": (403, "Data currently in use."),
    "UC.00011009": (409, "Data already exists."),
    "UC.00011016": (403, "Too many custom roles."),
    "UC.00011037": (400, "Project not found."),
    "UC.00011042": (400, "Project type and template type do not match."),
    "UC.00011043": (401, "Not authorized to modify this role."),
    "UC.00011059": (400, "The user is not a member of this project."),
    "UC.00011070": (403, "The project creator cannot be deleted."),
    "UC.00011071": (403, "Not permitted to set project administrator."),
    "UC.00011180": (400, "Invalid role name."),
    "UC.00011181": (400, "Invalid user."),
    "UC.00011189": (400, "Role not found."),
    "UC.00010005": (500, "Internal service error."),
    # The rest of the CodeArts User Center catalogue (seed 000 §6.2), every code with the status
    # and message the seed gives it; private access (spec/codearts-uc.md §7) uses UC.00011001,
    # UC.00011002, UC.00011003, UC.00011005, UC.00011036 and UC.00011065
    "UC.00011001": (400, "Bad request."),
    "UC.00011011": (400, "Invalid resource path."),
    "UC.00011012": (400, "User does not exist or already associated with a role."),
    "UC.00011013": (400, "Template role cannot be associated with any group or user."),
    "UC.00011014": (400, "Invalid permission rule."),
    "UC.00011015": (400, "Special roles cannot be associated."),
    "UC.00011019": (400, "Your free quota is insufficient."),
    "UC.00011020": (400, "Insufficient quota in your package."),
    "UC.00011021": (400, "IPD projects cannot be managed across tenants."),
    "UC.00011023": (400, "The user already has a role in this project."),
    "UC.00011025": (400, "Only one enterprise account can be invited at a time."),
    "UC.00011032": (400, "Invalid enterprise account ID or name."),
    "UC.00011036": (400, "Your VPCEP quota has been used up."),
    "UC.00011038": (400, "Permission template not found."),
    "UC.00011039": (400, "Template already created with this project."),
    "UC.00011040": (400, "Too many templates under your tenant."),
    "UC.00011041": (400, "Project template name already exists."),
    "UC.00011044": (400, "Template roles cannot be deleted."),
    "UC.00011045": (400, "The user has left or is not in the project."),
    "UC.00011053": (400, "Project and role do not match."),
    "UC.00011054": (400, "Role already added to this user."),
    "UC.00011055": (400, "You cannot add a user from another enterprise to your project."),
    "UC.00011061": (400, "Too many users to authorize."),
    "UC.00011064": (400, "Failed to obtain delegated users from IAM Identity Center."),
    "UC.00011085": (400, "Only one agency can be selected at a time."),
    "UC.00011176": (400, "Team not found."),
    "UC.00011177": (400, "Too many members in the team."),
    "UC.00011178": (400, "Team name already exists."),
    "UC.00011179": (400, "This team has already been associated with the project."),
    "UC.00011182": (400, "Invalid user-role relationship."),
    "UC.00011191": (400, "Too many teams in the project."),
    "UC.00010002": (401, "You do not have permissions."),
    "UC.00011017": (401, "Enterprise account frozen."),
    "UC.00011018": (401, "Yearly/monthly billing currently disabled."),
    "UC.00011026": (401, "Target enterprise not yet authorized."),
    "UC.00011028": (401, "Incorrect user numbers for the target enterprise."),
    "UC.00011030": (401, "Target tenant not authorized for the region."),
    "UC.00011031": (401, "You cannot invite your own enterprise account."),
    "UC.00011034": (401, "Not authorized to modify this permission."),
    "UC.00011084": (401, "Target tenant not yet authorized."),
    "UC.00011062": (403, "Package frozen."),
    "UC.00011065": (403, "Tenants with private network access enabled cannot be invited."),
    "UC.00010003": (404, "File not found."),
    "UC.00011005": (404, "Not found."),
    "UC.00011006": (405, "Unavailable method."),
    "UC.00011007": (408, "Request timed out."),
    "UC.00011008": (409, "Conflict."),
    "UC.00011022": (409, "Request already submitted."),
    "UC.00011033": (409, "The user is already in this project."),
    "UC.00011063": (409, "Failed to obtain the Redis lock."),
    "UC.00011024": (424, "An external service returned an error."),
    "UC.00011035": (429, "Account locked."),
    "UC.00011010": (500, "Operation failed."),
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
        extra: dict[str, str] | None = None,
        shape: str | None = None,
    ) -> None:
        default_status, default_message = CATALOGUE[code]
        self.code = code
        self.status = status or default_status
        self.message = message or default_message
        self.headers = headers or {}
        # More fields for the body (developer mode's signing details); never a secret.
        self.extra = extra or {}
        # The body's shape when not the path's ("gateway": flat with the request id, as the
        # gateway's own refusals are, on every path).
        self.shape = shape
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
    shape = err.shape or _shape(err.code, path)
    if shape == "gateway":
        return {"error_code": err.code, "error_msg": err.message, "request_id": request_id, **err.extra}
    if shape == "keystone":
        return {
            "error": {
                "code": err.status,
                "title": HTTPStatus(err.status).phrase,
                "message": err.message,
                "error_code": err.code,
                "error_msg": err.message,
                **err.extra,
            }
        }
    body = {"error_code": err.code, "error_msg": err.message, **err.extra}
    if path.startswith("/v3.0/"):
        body["request_id"] = request_id
    return body
