"""An unexpected failure inside a CodeArts route is answered 500 with its API family's code
(spec/projectman.md §2.3) in the flat shape, and neither the answer nor the log carries the
exception's text."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import APIRouter

from devuc.app import create_app
from devuc.codearts.routes import CodeArtsRoute
from devuc.config import Settings


@pytest.mark.parametrize("path,code", [
    ("/v4/boom", "PM.02175000"),
    ("/v1/boom", "CB.00060101"),
    ("/devuc/v1/boom", "UC.00010005"),
])
async def test_unexpected_failure_gets_the_family_internal_code(tmp_path, caplog, path, code):
    app = create_app(Settings(data_dir=tmp_path))
    failing = APIRouter(route_class=CodeArtsRoute)

    @failing.get(path)
    async def explode():
        raise RuntimeError("secret-detail-4711")

    app.include_router(failing)
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://devuc") as client:
        response = await client.get(path)
    assert response.status_code == 500
    assert response.json()["error_code"] == code and set(response.json()) == {"error_code", "error_msg"}
    assert len(response.headers["x-request-id"]) == 32
    assert "secret-detail-4711" not in response.text and "secret-detail-4711" not in caplog.text
    assert "RuntimeError" in caplog.text
