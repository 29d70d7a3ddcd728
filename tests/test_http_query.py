"""The lean routes' query reader gives exactly what the framework's query parser gives, and
JSON answers carry the headers the framework would give them."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from devuc.http import query_value

QUERY = st.text(alphabet="ab_=&%+2F0;é ", max_size=24)


@settings(max_examples=500, deadline=None)
@given(query=QUERY, name=st.sampled_from(["a", "b", "a_b", "a b", "/", "é"]))
def test_query_value_matches_the_framework(query, name):
    request = Request({"type": "http", "query_string": query.encode(), "headers": []})
    assert query_value(request, name) == request.query_params.get(name)


@pytest.mark.parametrize("content,status,headers", [
    ({"a": 1}, 200, None), ([], 201, {}), ({"x": "é"}, 400, {"Retry-After": "3"}),
    (None, 204, None), ({}, 304, None), ({}, 101, None), ({"ok": True}, 200, {"content-type": "text/plain"}),
])
def test_json_answers_carry_the_headers_the_general_way_would_give(content, status, headers):
    """JSONResponse builds its two headers directly when it has no others of its own; the
    result must be what Starlette's general header code gives for the same answer."""
    from starlette.responses import Response

    from devuc.http import JSONResponse

    class General(Response):
        media_type = JSONResponse.media_type
        render = JSONResponse.render

    ours = JSONResponse(content, status_code=status, headers=headers)
    assert ours.raw_headers == General(content, status_code=status, headers=headers).raw_headers
