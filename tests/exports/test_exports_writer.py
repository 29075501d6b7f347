"""The CSV bytes of an export: csv.writer's rows, and COPY's rows with \\r\\n row ends."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from routekeeper.exports.repository import crlf_row_ends
from routekeeper.exports.writer import csv_bytes

cells = st.one_of(st.none(), st.integers(), st.text(alphabet=st.sampled_from('ab,"\n\r x')))
tables = st.lists(st.lists(cells, min_size=1, max_size=5), min_size=1, max_size=8)


def _lf_csv(rows: list[list[object]]) -> bytes:
    """Rows the way COPY ... WITH (FORMAT csv) ends them: \\n after each row."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode()


@given(tables)
def test_crlf_row_ends_changes_only_the_row_ends(rows: list[list[object]]) -> None:
    # Without \r: csv.writer ending rows in \n leaves a lone \r unquoted (COPY quotes it).
    safe = [[c.replace("\r", "") if isinstance(c, str) else c for c in row] for row in rows]
    data = _lf_csv(safe)
    converted = crlf_row_ends(data, len(safe))
    assert converted == csv_bytes(safe)
    parsed = list(csv.reader(io.StringIO(converted.decode(), newline="")))
    assert parsed == [["" if c is None else str(c) for c in row] for row in safe]


def test_row_ends_inside_quoted_cells_are_kept() -> None:
    data = b'a,"line one\nline two"\nb,"say ""hi""\n"\n'
    assert crlf_row_ends(data, 2) == b'a,"line one\nline two"\r\nb,"say ""hi""\n"\r\n'


def test_without_rows_nothing_changes() -> None:
    assert crlf_row_ends(b"", 0) == b""
