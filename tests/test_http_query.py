"""The lean routes' query reader gives exactly what the framework's query parser gives."""

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
