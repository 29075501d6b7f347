"""Pure tests of the pieces under the orders API: time formats, error paths, tokens, JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError
from starlette.testclient import TestClient

from routekeeper.core.errors import RequestValidationFailed, nest_errors
from routekeeper.core.fields import check_handle, check_json
from routekeeper.core.handlers import field_path, install_error_handlers, validation_body
from routekeeper.core.pagination import decode_token, encode_token
from routekeeper.core.signing_keys import SigningKeys, new_key
from routekeeper.core.timefmt import (
    format_ts,
    parse_query_date,
    parse_query_time,
    parse_ts,
    parse_wall_time,
)

ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
# Hypothesis bounds are naive wall-clock times; the zone comes from ``timezones``.
instants = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),  # noqa: DTZ001
                        timezones=offsets)

_KEYS = SigningKeys(new_key())
_OTHER_KEYS = SigningKeys(new_key())


@given(instants)
def test_any_offset_round_trips_to_utc_milliseconds(value: datetime) -> None:
    """parse(any ISO offset) then format is the same instant in UTC, truncated to ms, Z."""
    text = format_ts(parse_ts(value.isoformat()))
    assert text is not None and ISO_MS_Z.match(text)
    back = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert timedelta(0) <= value - back < timedelta(milliseconds=1)
    assert format_ts(parse_ts(text)) == text


def test_format_pads_early_years() -> None:
    """Years before 1000 are written with four digits."""
    assert format_ts(datetime(5, 1, 2, 3, 4, 5, 678_900, tzinfo=UTC)) == "0005-01-02T03:04:05.678Z"


@pytest.mark.parametrize("text", ["", "soon", "2031-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
                                  "9999-12-31T23:00:00-05:00", "12345"])
def test_parse_ts_refuses_with_value_error(text: str) -> None:
    """Unparseable or unrepresentable instants are ValueErrors (422s), never crashes."""
    with pytest.raises(ValueError):
        parse_ts(text)


def test_query_formats() -> None:
    """Query dates are YYYY-MM-DD only; wall times carry no zone; windows are UTC."""
    assert parse_query_date("2031-03-10").isoformat() == "2031-03-10"
    for bad in ("2031-W10-1", "20310310", "2031-3-1"):
        with pytest.raises(ValueError):
            parse_query_date(bad)
    assert parse_wall_time("2031-03-10 10:00:00") == datetime(2031, 3, 10, 10)  # noqa: DTZ001
    with pytest.raises(ValueError):
        parse_wall_time("2031-03-10T10:00:00+05:30")
    assert parse_query_time("2031-03-10 10:00:00") == datetime(2031, 3, 10, 10, tzinfo=UTC)
    assert parse_query_time("2031-03-10T15:30:00+05:30") == datetime(2031, 3, 10, 10, tzinfo=UTC)


@pytest.mark.parametrize(("loc", "data", "expected"), [
    # The discriminated union's tag is dropped; the missing field at the end is kept.
    (("orders", 0, "destination", "geometry", "Point", "coordinates"),
     {"orders": [{"destination": {"geometry": {"type": "Point"}}}]},
     "orders.0.destination.geometry.coordinates"),
    (("orders", 0, "destination", "geometry", "Polygon", "coordinates", 0),
     {"orders": [{"destination": {"geometry": {"type": "Polygon", "coordinates": [[]]}}}]},
     "orders.0.destination.geometry.coordinates.0"),
    # An extra key the client sent is kept.
    (("geometry", "Point", "z"), {"geometry": {"type": "Point", "z": 1}}, "geometry.z"),
    # Smart-union type tags are dropped when nothing can be walked.
    (("limit", "function-after[check(), int]"), None, "limit"),
    (("status",), None, "status"),
])
def test_field_path_drops_union_tags(loc: tuple[Any, ...], data: Any, expected: str) -> None:
    """The reported path is the one the client wrote."""
    assert ".".join(field_path(loc, data) if data is not None else field_path(loc)) == expected


def test_validation_body_nests_by_location_and_path() -> None:
    """Errors render as {detail: {location: {field: {part: [messages]}}}, message}."""
    errors = [
        {"loc": ("body", "orders", 0, "type"), "msg": "Input should be 'pick' or 'drop'",
         "type": "enum", "ctx": {"expected": "'pick' or 'drop'"}},
        {"loc": ("query", "limit"), "msg": "Input should be less than or equal to 1000",
         "type": "less_than_equal", "ctx": {"le": 1000}},
        {"loc": ("body", 12), "msg": "JSON decode error", "type": "json_invalid"},
    ]
    assert validation_body(errors, body={"orders": [{"type": "x"}]}) == {
        "detail": {
            "json": {"orders": {"0": {"type": ["Must be one of: pick, drop."]}},
                     "_schema": ["Invalid JSON body."]},
            "query": {"limit": ["Must be less than or equal to 1000."]},
        },
        "message": "Validation error",
    }


@pytest.mark.parametrize(("error", "expected"), [
    ({"type": "missing", "msg": "Field required"}, "Missing data for required field."),
    ({"type": "int_parsing", "msg": "Input should be a valid integer"}, "Not a valid integer."),
    ({"type": "extra_forbidden", "msg": "Extra inputs are not permitted"}, "Unknown field."),
    ({"type": "literal_error", "msg": "Input should be 'a' or 'b'",
      "ctx": {"expected": "'a' or 'b'"}}, "Must be one of: a, b."),
    ({"type": "too_short", "msg": "List should have at least 1 item",
      "ctx": {"min_length": 1}}, "Shorter than minimum length 1."),
    ({"type": "value_error", "msg": "Value error, Repeats orders.0."}, "Repeats orders.0."),
])
def test_validation_messages_use_marshmallow_wording(error: dict[str, Any],
                                                     expected: str) -> None:
    """pydantic's error types read as marshmallow's standard sentences."""
    body = validation_body([{"loc": ("query", "x"), **error}])
    assert body["detail"] == {"query": {"x": [expected]}}


def test_nested_errors_keep_a_fields_own_messages_under_schema() -> None:
    """A field with its own errors and errors of its parts keeps both (own under _schema)."""
    nested = nest_errors({"json": {"orders": ["Too many."], "orders.0.type": ["Bad."],
                                   "a.b": ["x"], "a": ["y"]}})
    assert nested == {"json": {"orders": {"_schema": ["Too many."], "0": {"type": ["Bad."]}},
                               "a": {"b": ["x"], "_schema": ["y"]}}}


def test_a_key_with_a_dot_stays_one_key() -> None:
    """A client's key containing a dot is one level of the path, not two."""
    errors = [{"loc": ("body", "metadata", "a.b"), "type": "string_type", "msg": "m"}]
    body = validation_body(errors, body={"metadata": {"a.b": 1}})
    assert body["detail"] == {"json": {"metadata": {"a.b": ["Not a valid string."]}}}


@given(key=st.lists(st.one_of(st.integers(), st.text(max_size=20)), max_size=3),
       filters=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3))
def test_tokens_round_trip_for_their_filters(key: list[Any], filters: dict[str, str]) -> None:
    """A token decodes to its position with the filters it was made for."""
    token = encode_token(_KEYS, key, filters)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert decode_token(_KEYS, token, filters) == key


def test_tokens_refuse_other_filters_secrets_and_tampering() -> None:
    """Another filter set, another server secret or a changed byte: a 422."""
    token = encode_token(_KEYS, ["2031-01-01T00:00:00+00:00", "id"], {"status": "unplanned"})
    for secret, candidate, filters in (
        (_KEYS, token, {"status": "cancelled"}),
        (_OTHER_KEYS, token, {"status": "unplanned"}),
        (_KEYS, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), {"status": "unplanned"}),
        (_KEYS, "not-a-token", {"status": "unplanned"}),
    ):
        with pytest.raises(RequestValidationFailed) as caught:
            decode_token(secret, candidate, filters)
        assert "pagination_token" in caught.value.body["detail"]["query"]


@pytest.mark.parametrize("value", [
    {"x": float("nan")}, {"x": [float("inf")]}, {"k\x00": 1}, {"x": "\ud800"},
])
def test_check_json_refuses_unstorable_values(value: Any) -> None:
    """NaN, Infinity, NUL and lone surrogates cannot be stored, so they are refused."""
    with pytest.raises(ValueError):
        check_json(value)


def test_check_json_limits_depth_and_accepts_ordinary_json() -> None:
    """Ordinary metadata passes; nesting beyond the limit does not."""
    ordinary = {"a": [1, 2.5, "x", None, True, {"b": {"c": []}}]}
    assert check_json(ordinary) is ordinary
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValueError):
        check_json({"deep": deep})


@pytest.mark.parametrize(("orig", "status", "code"), [
    (Exception("UNIQUE constraint failed: order.account_id"), 409, "duplicate_resource"),
    (Exception("FOREIGN KEY constraint failed"), 409, "conflict"),
])
def test_integrity_errors_escaping_a_service_are_409s(orig: Exception, status: int,
                                                      code: str) -> None:
    """A constraint the database enforces is a 409 Error, never a 500."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise IntegrityError("INSERT ...", {}, orig)

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"code", "title", "detail"} and body["code"] == code


@pytest.mark.parametrize("value", ["..", ".", "a\tb", "a\x7fb"])
def test_check_handle_refuses_unaddressable_handles(value: str) -> None:
    """Handles that cannot be written in a URL path segment are refused."""
    with pytest.raises(ValueError):
        check_handle(value)
