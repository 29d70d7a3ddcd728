"""The UC error catalogue is the seed's §6.2 table, every code with its status and message, and
renders as {"error_code", "error_msg"}; the private-access settings are validated."""

from __future__ import annotations

import re

import pytest

from devuc.config import ConfigError, Settings
from devuc.errors import CATALOGUE, ApiError, error_body
from support import SHARED_DIR

SEED = SHARED_DIR / "seeds" / "000_468a54634c4d5529.txt"


def seed_table() -> list[tuple[int, str, str]]:
    text = SEED.read_text()
    start = text.index("6.2 Error Codes\n\nIf an error")
    end = text.index("6.3 Obtaining a Project ID\n\n6.3.1")
    rows = re.findall(r"^(\d{3})\t(UC\.\d{8})\t([^\t]*)\t", text[start:end], re.M)
    return [(int(status), code, message) for status, code, message in rows]


def test_every_seed_code_is_in_the_catalogue():
    table = seed_table()
    assert len(table) == 68 and len({code for _, code, _ in table}) == 68
    for status, code, message in table:
        assert CATALOGUE[code] == (status, message), code
    # and the catalogue invents no UC code of its own
    assert {c for c in CATALOGUE if c.startswith("UC.")} == {code for _, code, _ in table}


@pytest.mark.parametrize("path", ["/v2/vpceps", "/devuc-accessmgmt/v2/vpceps", "/v1/vpcep-authorization"])
def test_rendered_flat(path):
    for status, code, message in seed_table():
        err = ApiError(code)
        assert err.status == status
        assert error_body(err, path, "rid") == {"error_code": code, "error_msg": message}


def test_private_access_settings(monkeypatch):
    settings = Settings()
    assert settings.vpcep_quota == 100 and settings.trusted_proxies == [] and settings.vpcep_header == "X-Vpcep-Id"
    assert (settings.proxy_protocol_tlv_type, settings.proxy_protocol_tlv_subtype) == (0xEA, 0x01)
    monkeypatch.setenv("DEVUC_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    monkeypatch.setenv("DEVUC_PRIVATE_ACCESS_REGIONS", "ap-southeast-3,sa-brazil-1")
    monkeypatch.setenv("DEVUC_VPCEP_QUOTA", "5")
    loaded = Settings.load()
    assert loaded.trusted_proxies == ["10.0.0.0/8", "192.0.2.7"]
    assert loaded.private_access_regions == ["ap-southeast-3", "sa-brazil-1"] and loaded.vpcep_quota == 5
    for name, value in (("DEVUC_TRUSTED_PROXIES", "10.0.0.0/33"), ("DEVUC_PRIVATE_ACCESS_REGIONS", "mars-1"),
                        ("DEVUC_VPCEP_QUOTA", "0"), ("DEVUC_VPCEP_HEADER", "X Bad"),
                        ("DEVUC_PROXY_PROTOCOL_TLV_TYPE", "256")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError):
            Settings.load()
        monkeypatch.delenv(name)
