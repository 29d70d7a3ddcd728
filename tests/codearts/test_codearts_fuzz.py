"""Whatever JSON or query arrives, the CodeArts routes answer with a catalogue code and never
with an internal error (design.md, "Bad input and failure")."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codearts_helpers import DEVUC_IDS, add, cast_for, new_project

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
KEYS = ["project_name", "project_type", "description", "user_id", "domain_id", "domain_name", "role_id", "users",
        "user_ids", "nick_name", "name", "copy_from", "permissions", "roles", "role_ids", "project_creation",
        "project_creators", "template_id", "source", "enterprise_id", "build", "devuc"]
bodies = json_values | st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)
WRITES = [
    ("POST", "/v4/project"), ("POST", "/v4/projects/check-name"), ("PUT", "/v4/projects/{pid}"),
    ("POST", "/v4/projects/{pid}/member"), ("POST", "/v4/projects/{pid}/members"),
    ("DELETE", "/v4/projects/{pid}/members"), ("POST", "/v4/projects/{pid}/members/role"), ("PUT", "/v4/user"),
    ("PUT", "/v4/domain/child-users"), ("POST", "/devuc/v1/projects/{pid}/roles"),
    ("PATCH", "/devuc/v1/projects/{pid}/permissions"), ("PATCH", "/devuc/v1/projects/{pid}/roles/{viewer}/permissions"),
    ("PUT", "/devuc/v1/projects/{pid}/members/{dev}/roles"),
]
READS = ["/v4/projects", "/v4/projects/{pid}/members", "/v1/domain/user-permission", "/v1/job/project/default-permission",
         "/v4/projects/domain/not-added"]
PARAMS = ["offset", "limit", "search", "project_type", "sort", "archive", "query_type", "project_id", "job_id"]


@pytest.fixture
def target(server):
    cast = cast_for(server)
    pid = new_project(cast.owner)["project_id"]
    assert add(cast.owner, pid, cast.dev, 4).status_code == 204
    return cast, {"pid": pid, "viewer": DEVUC_IDS["viewer"], "dev": cast.dev.user_id}


def check(response):
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert {"error_code", "error_msg"} <= set(response.json())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(WRITES), body=bodies)
def test_any_json_body(target, route, body):
    cast, ids = target
    method, path = route
    check(cast.owner.call(method, path.format(**ids), content=json.dumps(body).encode(),
                          headers={"Content-Type": "application/json"}))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(READS), params=st.dictionaries(st.sampled_from(PARAMS), st.text(max_size=40), max_size=4))
def test_any_query(target, path, params):
    cast, ids = target
    check(cast.owner.call("GET", path.format(**ids), params=params))
