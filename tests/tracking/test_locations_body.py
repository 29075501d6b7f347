"""The upload body read by hand (``tracking/locations_body.py``) against FastAPI's reading of
a declared ``LocationsIn``: a reference app with the old declaration and the app's error
handlers is sent the same requests as the real app, which must answer alike, with the same
fixes when it accepts."""

from __future__ import annotations

import email.message
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from routekeeper.core.bodies import is_json_content_type
from routekeeper.core.handlers import install_error_handlers
from routekeeper.tracking import endpoints, locations_body
from routekeeper.tracking.endpoints import upload_credentials
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.ingest import DeviceRef, KeyCredential
from routekeeper.tracking.locations_body import fast_fixes, slow_fixes
from routekeeper.tracking.schemas import IngestResult, LocationsIn

URL = "/devices/d1/locations"
KEY = "rkd_" + "k" * 43
OPTIONAL = ("accuracy", "speed", "bearing", "altitude", "battery")


def reference_app() -> FastAPI:
    """The endpoint's old reading: ``LocationsIn`` declared, the credentials a dependency."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post(URL.replace("d1", "{device_id}"))
    async def post_locations(
        device_id: str, body: LocationsIn,
        key: Annotated[KeyCredential | None, Depends(upload_credentials)],
    ) -> JSONResponse:
        return JSONResponse({"fixes": [repr(item.to_fix()) for item in body.locations]})

    return app


def shown(fixes: list[Fix]) -> list[str]:
    """Fixes compared by repr: types (1 against 1.0), NaN and time zones count."""
    return [repr(fix) for fix in fixes]


class Pair:
    """The real app (its upload writer replaced by a recorder) and the reference app."""

    def __init__(self, real: TestClient, reference: TestClient, seen: list[list[Fix]]) -> None:
        self.real, self.reference, self.seen = real, reference, seen

    def check(self, body: bytes, headers: dict[str, str]) -> int:
        """Send ``body`` to both; the same status, and the same answer or the same fixes."""
        self.seen.clear()
        expected = self.reference.post(URL, content=body, headers=headers)
        actual = self.real.post(URL, content=body, headers=headers)
        assert actual.status_code == expected.status_code, (body[:300], headers, actual.text)
        if expected.status_code == 200:
            assert [shown(fixes) for fixes in self.seen] == [expected.json()["fixes"]]
        else:
            assert actual.json() == expected.json(), (body[:300], headers)
        return actual.status_code


@pytest.fixture
def pair(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    """Both apps; the real one records the fixes it would have stored."""
    seen: list[list[Fix]] = []

    async def recorder(_request: Request, _device: KeyCredential | DeviceRef,
                       fixes: list[Fix]) -> IngestResult:
        seen.append(fixes)
        return IngestResult(accepted=len(fixes), duplicates=0, rejected=0)

    monkeypatch.setattr(endpoints, "_upload", recorder)
    with TestClient(app, raise_server_exceptions=False) as real, \
            TestClient(reference_app(), raise_server_exceptions=False) as reference:
        yield Pair(real, reference, seen)


# ---- bodies --------------------------------------------------------------------------------

MISSING: Any = object()  # the key is left out
# Numbers as a device sends them; integers beyond 64 bits are floats to orjson, ints to json.
FINITE = st.one_of(st.integers(-200, 200), st.floats(allow_nan=False, allow_infinity=False),
                   st.integers(-(10**30), 10**30))
NUMBER = st.one_of(FINITE, st.floats())  # NaN and infinities are JSON only to the stdlib
# What pydantic's lax mode takes for a number (or not) and the fast path leaves to it.
WRONG = st.one_of(
    st.booleans(), st.none(), st.text(max_size=4),
    st.sampled_from(["1.5", "-3", " 2 ", "1e3", "nan", "inf", "0x10", "\ud800", "", "Point"]),
    st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.text(max_size=2),
                                                             st.integers(), max_size=2),
)
ZONES = ["", "Z", "z", "+00:00", "+05:30", "-08:00", "+13:45", "-00:00", "+23:59"]


def _object(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts of these keys, a key left out when its strategy draws MISSING."""
    return st.fixed_dictionaries(fields).map(
        lambda drawn: {key: value for key, value in drawn.items() if value is not MISSING})


@st.composite
def timestamps(draw: st.DrawFn, *, good: bool) -> str:
    """ISO-8601 times: naive, Z or offsets, with fractions; sloppy ones parse_ts may refuse."""
    low, high = (datetime(1900, 1, 1), datetime(2100, 1, 1)) if good else (  # noqa: DTZ001
        datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59))  # noqa: DTZ001
    moment = draw(st.datetimes(min_value=low, max_value=high))
    separator = draw(st.sampled_from(["T", " ", "t"] if not good else ["T", " "]))
    fraction = draw(st.sampled_from(["", ".5", ".123", ".123456", ".1234567", "."]
                                    if not good else ["", ".5", ".123", ".123456"]))
    zone = draw(st.sampled_from([*ZONES, "+24:00", "+0530", "UTC", " Z", "+05"]
                                if not good else ZONES))
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}{separator}"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}{fraction}{zone}")
    return f" {text} " if not good and draw(st.booleans()) else text


GOOD_POINT = _object({"type": st.sampled_from(["Point", MISSING]),
                      "coordinates": st.lists(FINITE, min_size=2, max_size=3)})
GOOD_ITEM = _object({
    "recorded_at": timestamps(good=True),
    "geometry": GOOD_POINT,
    **{name: st.one_of(st.just(MISSING), st.none(), FINITE) for name in OPTIONAL},
    "extra": st.sampled_from([MISSING, 1, "x", None, [1], {"type": "LineString"}]),
})
POINT = st.one_of(GOOD_POINT, WRONG, _object({
    "type": st.one_of(st.sampled_from(["Point", MISSING, "point", "LineString"]), WRONG),
    "coordinates": st.one_of(st.just(MISSING), WRONG,
                             st.lists(st.one_of(NUMBER, NUMBER, WRONG), max_size=5)),
}))
ITEM = st.one_of(GOOD_ITEM, WRONG, _object({
    "recorded_at": st.one_of(timestamps(good=False), timestamps(good=True), WRONG,
                             st.just(MISSING)),
    "geometry": st.one_of(GOOD_POINT, POINT, st.just(MISSING)),
    **{name: st.one_of(st.just(MISSING), NUMBER, WRONG) for name in OPTIONAL},
}))


@st.composite
def near_misses(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed item with one thing changed: the fast path's borders, where a check it
    lacked would show (another type, a coordinate more or less, a time parse_ts refuses)."""
    item = draw(GOOD_ITEM)
    geometry = item["geometry"] = dict(item["geometry"])
    where = draw(st.sampled_from(["recorded_at", "geometry", "type", "coordinates",
                                  "coordinate", "coordinate", "coordinate", *OPTIONAL]))
    if where == "coordinate":
        coordinates = list(geometry["coordinates"])
        coordinates[draw(st.integers(0, len(coordinates) - 1))] = draw(st.one_of(WRONG, NUMBER))
        geometry["coordinates"] = coordinates
        return item
    target = geometry if where in ("type", "coordinates") else item
    value = draw(st.one_of(st.just(MISSING), WRONG, {
        "recorded_at": timestamps(good=False),
        "type": st.sampled_from(["point", "LineString", "Point "]),
        "coordinates": st.lists(FINITE, max_size=5),
    }.get(where, NUMBER)))
    if value is MISSING:
        target.pop(where, None)
    else:
        target[where] = value
    return item


GOOD_BODY = _object({"locations": st.lists(GOOD_ITEM, min_size=1, max_size=4),
                     "device": st.sampled_from([MISSING, "d1", None, {"a": [1]}])})
NEAR_BODY = st.tuples(st.lists(GOOD_ITEM, max_size=2), near_misses(),
                      st.lists(GOOD_ITEM, max_size=2)).map(
    lambda parts: {"locations": [*parts[0], parts[1], *parts[2]]})
BODY = st.one_of(
    GOOD_BODY, NEAR_BODY, NEAR_BODY,
    _object({"locations": st.lists(st.one_of(GOOD_ITEM, ITEM), max_size=4)}),
    _object({"locations": st.one_of(st.just(MISSING), WRONG, GOOD_ITEM)}),
    st.lists(GOOD_ITEM, max_size=2), WRONG, NUMBER,
)


@st.composite
def encoded(draw: st.DrawFn, bodies: st.SearchStrategy[Any]) -> bytes:
    """A body as JSON text, mostly as a client writes it, sometimes broken or oddly encoded."""
    value = draw(bodies)
    ascii_only = draw(st.booleans())
    text = json.dumps(value, ensure_ascii=ascii_only, indent=draw(st.sampled_from([None, 1])))
    raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate: invalid UTF-8
    how = draw(st.sampled_from(["as is"] * 6 + ["cut", "bom", "utf-16", "junk", "spaces"]))
    if how == "cut":
        return raw[:draw(st.integers(0, max(len(raw) - 1, 0)))]
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    if how == "junk":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=2)) + raw[at:]
    if how == "spaces":
        return b" \t\r\n" + raw + b"\n "
    return raw


CONTENT_TYPES = st.sampled_from([
    "application/json", "application/json", "application/json; charset=utf-8",
    "Application/JSON", "application/geo+json", "application/jsonx", "application/json/x",
    "text/plain", "application/x-www-form-urlencoded", "", None,
])
CREDENTIALS = st.sampled_from([{"Authorization": f"Bearer {KEY}"}] * 3 + [{}])


def _headers(content_type: str | None, credentials: dict[str, str]) -> dict[str, str]:
    return {**credentials, **({} if content_type is None else {"Content-Type": content_type})}


# ---- the real endpoint against the reference -----------------------------------------------

EDGES: list[tuple[bytes, str | None]] = [
    (b'{"locations":[{"recorded_at":"2024-05-01T10:00:00Z",'
     b'"geometry":{"type":"Point","coordinates":[13.4,52.5,34]}}]}', "application/json"),
    (b'{"locations":[{"recorded_at":"2024-05-01T10:00:00Z","geometry":{"coordinates":[1,2]},'
     b'"speed":true,"accuracy":"5"}]}', "application/json"),
    (b'{"locations":[{"recorded_at":"2024-05-01T10:00:00Z","geometry":{"coordinates":[NaN,2]}'
     b'}]}', "application/json"),
    (b'{"locations":[{"recorded_at":"2024-05-01T10:00:00Z",'
     b'"geometry":{"coordinates":[18446744073709551617,2]}}]}', "application/json"),
    (b'{"locations":[{"recorded_at":"0001-01-01T00:00:00+05:00",'
     b'"geometry":{"coordinates":[1,2]}}]}', "application/json"),
    (b'{"locations":[{"recorded_at":"2024-05-01","geometry":{"coordinates":[1,2,3,4]}}]}',
     "application/json"),
    (b'{"locations":[]}', "application/json"),
    (b'{"locations":{}}', "application/json"),
    (b'[{"locations":[]}]', "application/json"),
    (b'{"locations":[1]}', "application/json"),
    (b"", "application/json"),
    (b"", None),
    (b"   ", "application/json"),
    (b"{", "application/json"),
    (b'{"a":"\xff"}', "application/json"),
    (b"[" * 100_000, "application/json"),
    (b'\xef\xbb\xbf{"locations":[]}', "application/json"),
    ('{"locations":[]}'.encode("utf-16"), "application/json"),
    (b'{"locations":[{"recorded_at":"2024-05-01T10:00:00Z","geometry":{"coordinates":[1,2]}}]}',
     None),
    (b'{"locations":[{"recorded_at":"2024-05-01T10:00:00Z","geometry":{"coordinates":[1,2]}}]}',
     "text/plain"),
    (b'{"locations":[{"recorded_at":"2024-05-01T10:00:00Z","geometry":{"coordinates":[1,2]}}]}',
     "application/ld+json; charset=utf-8"),
]


@pytest.mark.parametrize(("body", "content_type"), EDGES)
@pytest.mark.parametrize("credentials", [{"Authorization": f"Bearer {KEY}"}, {}],
                         ids=["key", "none"])
def test_edge_cases_are_answered_as_before(pair: Pair, body: bytes, content_type: str | None,
                                           credentials: dict[str, str]) -> None:
    """Hand-picked bodies, with and without credentials, answer as the declared body did
    (undecodable JSON is a 422 even without credentials, a malformed item a 401 then)."""
    pair.check(body, _headers(content_type, credentials))


def test_generated_bodies_are_answered_as_before(pair: Pair) -> None:
    """Generated bodies, well-formed and not, answer as the declared body did, with the same
    fixes when accepted."""

    @settings(max_examples=400)
    @given(st.one_of(encoded(GOOD_BODY), encoded(BODY)), CONTENT_TYPES, CREDENTIALS)
    def check(body: bytes, content_type: str | None, credentials: dict[str, str]) -> None:
        statuses[pair.check(body, _headers(content_type, credentials))] += 1

    statuses: Counter[int] = Counter()
    check()
    # Not all refusals: accepted bodies, malformed ones and missing credentials all came up.
    assert min(statuses[200], statuses[401], statuses[422]) >= 20, statuses


def test_well_formed_bodies_take_the_fast_path(pair: Pair,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of well-formed items is accepted by the real endpoint without the model."""

    def no_model(value: Any) -> list[Fix]:
        raise AssertionError("the slow path was taken")

    monkeypatch.setattr(locations_body, "slow_fixes", no_model)
    body = {"locations": [{"recorded_at": "2024-05-01T10:00:00.250+02:00",
                           "geometry": {"type": "Point", "coordinates": [13.4, 52.5, 40]},
                           "accuracy": 5, "speed": 1.5, "battery": 80}] * 3}
    status = pair.check(json.dumps(body).encode(), _headers("application/json",
                                                             {"Authorization": f"Bearer {KEY}"}))
    assert status == 200
    assert pair.seen[0][0] == Fix(recorded_at=datetime(2024, 5, 1, 8, 0, 0, 250000, tzinfo=UTC),
                                  lon=13.4, lat=52.5, accuracy_m=5.0, speed_mps=1.5,
                                  altitude_m=40.0, battery_percent=80.0)


# ---- the fast path alone -------------------------------------------------------------------

def _model_fixes(value: Any) -> list[str] | None:
    try:
        return shown(slow_fixes(value))
    except Exception:
        return None


def _check_fast_path(value: Any) -> None:
    decoded = orjson.loads(json.dumps(value)) if _orjson_reads(value) else value
    fixes = fast_fixes(decoded)
    if fixes is not None:
        assert shown(fixes) == _model_fixes(json.loads(json.dumps(value)))


@settings(max_examples=1000)
@given(BODY)
def test_the_fast_path_gives_the_models_fixes_or_gives_up(value: Any) -> None:
    """Whatever the fast path accepts, ``LocationsIn`` accepts with the same fixes."""
    _check_fast_path(value)


@settings(max_examples=1000)
@given(NEAR_BODY)
def test_near_misses_go_the_slow_way_or_agree(value: Any) -> None:
    """Bodies with one thing changed: the fast path gives up or gives the model's fixes."""
    _check_fast_path(value)


@settings(max_examples=300)
@given(GOOD_BODY)
def test_the_fast_path_takes_well_formed_bodies(value: Any) -> None:
    """Well-formed bodies take the fast path (it is not a path that never runs)."""
    fixes = fast_fixes(orjson.loads(json.dumps(value)))
    assert fixes is not None
    assert shown(fixes) == _model_fixes(json.loads(json.dumps(value)))


def _orjson_reads(value: Any) -> bool:
    try:
        orjson.loads(json.dumps(value))
    except orjson.JSONDecodeError:
        return False
    return True


def _alike(ours: Any, theirs: Any) -> bool:
    """orjson's value against the stdlib's: equal, but for integers beyond 64 bits, which
    orjson reads as the nearest float (what pydantic makes of the stdlib's int for a float)."""
    if type(ours) is float and type(theirs) is int:
        return ours == float(theirs)
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, dict):
        return ours.keys() == theirs.keys() and all(_alike(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list):
        return len(ours) == len(theirs) and all(map(_alike, ours, theirs))
    return repr(ours) == repr(theirs)


@settings(max_examples=1000)
@given(st.one_of(encoded(BODY), st.binary(max_size=40)))
def test_orjson_accepts_only_what_the_stdlib_reads_alike(raw: bytes) -> None:
    """The fast path's premise: JSON orjson reads, the stdlib reads too, to the same values."""
    try:
        ours = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    assert _alike(ours, json.loads(raw))


# ---- content types and the API document ----------------------------------------------------

def _fastapi_reads_json(value: str) -> bool:
    """FastAPI's test of a content type, through ``email.message`` as it does it."""
    if not value:
        return False
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


HEADER_TEXT = st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"),
                      max_size=30)
PARTS = st.tuples(st.sampled_from(["application", "Application", " application", "text", "",
                                   "application/x"]),
                  st.sampled_from(["/", "", "//"]),
                  st.sampled_from(["json", "JSON", "geo+json", "jsonx", "json/x", "+json", "",
                                   "json "]),
                  st.sampled_from(["", ";charset=utf-8", " ; x=y", ";"]))


@settings(max_examples=1000)
@given(st.one_of(HEADER_TEXT, PARTS.map("".join)))
def test_json_content_types_are_those_fastapi_decodes(value: str) -> None:
    """``is_json_content_type`` reads the header as FastAPI's ``email.message`` does."""
    assert is_json_content_type(value) == _fastapi_reads_json(value)


def test_the_document_describes_the_body_as_a_declared_one(app: FastAPI) -> None:
    """The operation's request body and its schemas are those of the declared body."""
    ours, theirs = app.openapi(), reference_app().openapi()
    path = "/devices/{device_id}/locations"
    assert (ours["paths"][path]["post"]["requestBody"]
            == theirs["paths"][path]["post"]["requestBody"])
    for name in ("LocationsIn", "LocationIn", "PointIn"):
        assert ours["components"]["schemas"][name] == theirs["components"]["schemas"][name]
