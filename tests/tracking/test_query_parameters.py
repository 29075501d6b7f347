"""protocols.query_parameters: OsmAnd's query strings read as Starlette's QueryParams reads
them, whatever they hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from routekeeper.tracking.protocols import query_parameters

# Names and values drawn from what makes query strings tricky: separators, escapes, plus
# signs, repeated names, blanks and bytes beyond ASCII.
_PIECES = st.text(alphabet="ab=&%+;.-_2F0é\x00 ", max_size=12)


@given(st.lists(_PIECES, max_size=8))
def test_the_parameters_are_the_ones_starlette_reads(pieces: list[str]) -> None:
    query = "&".join(pieces).encode("utf-8")
    assert query_parameters(query) == dict(QueryParams(query))


def test_a_phones_query_string_and_its_edge_cases() -> None:
    assert query_parameters(b"id=k1&lat=60.1&lon=24.9&timestamp=1700000000") == {
        "id": "k1", "lat": "60.1", "lon": "24.9", "timestamp": "1700000000"}
    assert query_parameters(b"id=a&id=b&&flag&x=1=2") == {"id": "b", "flag": "", "x": "1=2"}
    assert query_parameters(b"id=a%20b&speed=1+2") == {"id": "a b", "speed": "1 2"}
    assert query_parameters(b"") == {}
