"""Settings: one place for every knob.

Precedence, highest first: explicit overrides (CLI flags), ``DEVUC_*`` environment variables,
an optional TOML file (``--config`` or ``DEVUC_CONFIG``), then the defaults below.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

# The default region catalogue: both region tables of spec/codearts-uc.md §2.
DEFAULT_REGIONS: list[dict[str, str]] = [
    {"id": "af-north-1", "name": "AF-Cairo"},
    {"id": "af-south-1", "name": "AF-Johannesburg"},
    {"id": "ap-southeast-3", "name": "AP-Singapore"},
    {"id": "la-north-2", "name": "LA-Mexico City2"},
    {"id": "la-south-2", "name": "LA-Santiago"},
    {"id": "me-east-1", "name": "ME-Riyadh"},
    {"id": "sa-brazil-1", "name": "LA-Sao Paulo1"},
    {"id": "tr-west-1", "name": "TR-Istanbul"},
    {"id": "cn-south-1", "name": "CN South-Guangzhou"},
    {"id": "cn-east-2", "name": "CN East-Shanghai2"},
    {"id": "cn-east-3", "name": "CN East-Shanghai1"},
    {"id": "cn-south-2", "name": "CN South-Shenzhen"},
    {"id": "cn-southwest-2", "name": "CN Southwest-Guiyang1"},
    {"id": "cn-north-4", "name": "CN North-Beijing4"},
    {"id": "cn-north-1", "name": "CN North-Beijing1"},
]


class Region(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9-]{1,40}$")
    name: str = ""


class ConfigError(Exception):
    """The configuration cannot be used; the message says which setting is wrong."""


class Settings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    data_dir: Path = Path("devuc-data")
    database_url: str | None = None
    # Master key that encrypts token keys and secret access keys at rest. When unset, a key file
    # is generated in the data folder (owner-only permissions).
    secret_key: str | None = None
    # Externally visible base URL used in "links"; derived from the request when unset.
    public_url: str | None = None
    regions: list[Region] = Field(default_factory=lambda: [Region(**r) for r in DEFAULT_REGIONS])
    log_level: str = "info"
    # GET /metrics (docs/observability.md): counts only, no ids; served unauthenticated.
    metrics: bool = True
    # JSON access log on stderr, one line per request (docs/observability.md). None: on in dev
    # mode, off otherwise.
    access_log: bool | None = None
    # What an authorization refusal does (docs/enforcement.md): enforce | log | off.
    enforcement: str = Field("enforce", pattern=r"^(enforce|log|off)$")
    # Developer mode (`devuc serve --dev`, docs/dev-mode.md): the dev dataset, the /_devuc/ state
    # routes open to all (loopback only); refused signed requests show the server's canonical
    # request (no secrets).
    dev: bool = False
    # The account whose admin group may use the /_devuc/ state routes outside dev mode.
    operator_account: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
    # A seed file (docs/dev-mode.md) applied at start; "reset to seed" restores the store as it
    # was then. In dev mode: the packaged dev dataset unless given.
    seed_file: Path | None = None

    token_ttl_seconds: int = Field(86400, ge=60, le=86400)
    # The login policy's ranges (spec/iam.md §4.1).
    login_failed_times: int = Field(5, ge=3, le=10)
    login_failure_window_minutes: int = Field(15, ge=15, le=60)
    lockout_minutes: int = Field(15, ge=15, le=1440)
    aksk_failures_before_lock: int = Field(5, ge=1, le=100)
    aksk_lock_minutes: int = Field(5, ge=1, le=1440)
    signature_max_skew_seconds: int = Field(900, ge=1, le=86400)
    # Per-client (source address) request rate; 0 turns rate limiting off. burst 0: twice the rate.
    rate_limit_per_second: float = Field(0, ge=0, le=1_000_000)
    rate_limit_burst: int = Field(0, ge=0, le=10_000_000)
    password_min_length: int = Field(8, ge=6, le=32)
    max_users_per_account: int = Field(50, ge=1, le=2000)

    max_body_bytes: int = Field(12 * 1024 * 1024, ge=1024)
    iam_max_body_bytes: int = Field(32 * 1024, ge=1024)

    # Private access (spec/codearts-uc.md §4.3, §6). VPC endpoints an account may allow-list per
    # region (the real number is not public; 100 is the spec's default).
    vpcep_quota: int = Field(100, ge=1, le=10000)
    # Regions where private access is enforced (spec §8 item 17); empty: every configured region.
    private_access_regions: list[str] = Field(default_factory=list)
    # Proxies (addresses or CIDR ranges) believed when they say which VPC endpoint a request came
    # through, by a PROXY protocol v2 TLV or by the header below; from anyone else both are ignored.
    trusted_proxies: list[str] = Field(default_factory=list)
    vpcep_header: str = Field("X-Vpcep-Id", pattern=r"^[A-Za-z0-9-]{1,64}$")
    # The PROXY v2 TLV carrying the VPC endpoint ID: AWS PrivateLink's 0xEA / subtype 0x01 by
    # default; a subtype of -1 means the whole TLV value is the ID.
    proxy_protocol_tlv_type: int = Field(0xEA, ge=0, le=255)
    proxy_protocol_tlv_subtype: int = Field(0x01, ge=-1, le=255)

    @field_validator("trusted_proxies", "private_access_regions", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # DEVUC_TRUSTED_PROXIES="10.0.0.0/8,192.0.2.7" from the environment
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or CIDR range") from exc
        return entries

    @model_validator(mode="after")
    def _private_access_regions_known(self) -> Settings:
        unknown = set(self.private_access_regions) - {r.id for r in self.regions}
        if unknown:
            raise ValueError(f"private_access_regions names unknown regions: {sorted(unknown)}")
        return self

    @field_validator("regions")
    @classmethod
    def _regions_unique(cls, regions: list[Region]) -> list[Region]:
        ids = [r.id for r in regions]
        if len(set(ids)) != len(ids):
            raise ValueError("region ids must be unique")
        if not ids:
            raise ValueError("at least one region is required")
        return regions

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'devuc.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @classmethod
    def load(cls, config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        config_file = config_file or os.environ.get("DEVUC_CONFIG")
        if config_file:
            try:
                values.update(tomllib.loads(Path(config_file).read_text()))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        for name in cls.model_fields:
            env = os.environ.get(f"DEVUC_{name.upper()}")
            if env is not None and name != "regions":
                values[name] = env
        regions_env = os.environ.get("DEVUC_REGIONS")
        if regions_env:
            # "id=Name,id2=Name2" or plain "id,id2"
            values["regions"] = [
                {"id": part.split("=", 1)[0].strip(), "name": part.split("=", 1)[-1].strip()}
                for part in regions_env.split(",")
                if part.strip()
            ]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"invalid setting {field}: {first['msg']}") from exc


# Environment variable through which `devuc serve` hands its resolved settings to each worker.
SETTINGS_ENV = "DEVUC_RESOLVED_SETTINGS"


def served_settings() -> Settings:
    """The settings `devuc serve` resolved and handed to its workers through ``SETTINGS_ENV``;
    outside such a worker, those of the environment and the configuration file."""
    raw = os.environ.get(SETTINGS_ENV)
    return Settings.model_validate(json.loads(raw)) if raw else Settings.load()
