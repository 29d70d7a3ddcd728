"""OpenAPI models of the private-access APIs (spec/codearts-uc.md §4, §4.4). Routes read bodies
themselves (each field answered with its catalogue code); these models only describe them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .service import MAX_ENTRIES

VPCEP_ID_PATTERN = r"^[0-9a-z-]{1,40}$"
ENTERPRISE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
DESCRIPTION_PATTERN = r"^[A-Za-z0-9 ()\[\]\-_~.&;\u4e00-\u9fff]{0,128}$"


class VpcepRequestInfo(BaseModel):
    vpcep_id: str = Field(
        min_length=1, max_length=40, pattern=VPCEP_ID_PATTERN,
        description="VPC endpoint ID: digits, lower-case letters and '-'.",
    )
    description: str | None = Field(
        None, max_length=128, pattern=DESCRIPTION_PATTERN,
        description="Chinese and English letters, digits, spaces and ()[]-_~.&; (ignored when deleting).",
    )


class VpcepRecordsRequest(BaseModel):
    enterprise_id: str | None = Field(
        None, pattern=ENTERPRISE_ID_PATTERN,
        description="The caller's account ID (default: the caller's account).",
    )
    vpceps: list[VpcepRequestInfo] = Field(
        min_length=1, max_length=MAX_ENTRIES, description="VPC endpoints; one named twice counts once."
    )


class VpcepCountResponse(BaseModel):
    status: Literal["ok"]
    total: int = Field(description="How many records this call added or removed.")


class VpcepInfo(BaseModel):
    vpcep_id: str
    description: str


class TenantVpcepInfos(BaseModel):
    enterprise_id: str
    vpceps: list[VpcepInfo]


class VpcepListResponse(BaseModel):
    status: Literal["ok"]
    data: TenantVpcepInfos
    limit: int = Field(ge=0, le=100)
    offset: int = Field(ge=0, le=9999)
    total: int = Field(description="How many records match, on all pages.")


class VpcDecision(BaseModel):
    """CodeArts Check's ``VpcData`` decision record."""

    enterprise_id: str
    vpcep_id: str | None = Field(description="The VPC endpoint the request came through (null: none).")
    result: Literal["Allow", "Deny"]
    config: bool = Field(description="Whether private access is in force for the request.")


class VpcepAuthorizationResponse(BaseModel):
    status: Literal["ok", "failed"]
    data: VpcDecision
