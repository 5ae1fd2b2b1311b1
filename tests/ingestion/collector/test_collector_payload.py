"""Shape checks and decompression of request bodies (pure functions, no server)."""

from __future__ import annotations

import gzip

import orjson
import pytest

from ingestion.collector.payload import PayloadError, decode_body, parse_otlp_traces, parse_records


def test_json_array_becomes_one_compact_line_per_record() -> None:
    data, n = parse_records(b' [ {"event_id": "a", "x": [1, 2]}, {"event_id": "b"} ] ')
    assert n == 2
    assert data == b'{"event_id":"a","x":[1,2]}\n{"event_id":"b"}\n'


def test_ndjson_keeps_lines_and_skips_blank_ones() -> None:
    data, n = parse_records(b'{"event_id": "a"}\r\n\n  \n{"event_id": "b"}')
    assert n == 2
    assert [orjson.loads(x)["event_id"] for x in data.splitlines()] == ["a", "b"]
    assert data.endswith(b"\n")


def test_one_pretty_printed_object_is_one_record() -> None:
    data, n = parse_records(b'{\n  "event_id": "a",\n  "t": 1\n}\n')
    assert (n, data) == (1, b'{"event_id":"a","t":1}\n')


def test_empty_bodies_hold_no_records() -> None:
    assert parse_records(b"") == (b"", 0)
    assert parse_records(b"[]") == (b"", 0)


@pytest.mark.parametrize(("body", "fragment"), [
    (b"[1, 2]", "array element 0 is a number"),
    (b'[{"a": 1}, "x"]', "array element 1 is a string"),
    (b'[{"a": 1}', "not valid JSON"),
    (b'{"a": 1}\n[1]\n', "line 2 is an array"),
    (b'{"a": 1}\n{"b": \n', "line 2 is not valid JSON"),
    (b"hello", "line 1 is not valid JSON"),
    (b"null", "line 1 is null"),
])
def test_wrong_shapes_are_400_and_say_where(body: bytes, fragment: str) -> None:
    with pytest.raises(PayloadError) as err:
        parse_records(body)
    assert err.value.status == 400
    assert fragment in err.value.message


def test_feedback_records_get_their_record_type_and_interactions_are_refused() -> None:
    data, n = parse_records(b'[{"feedback_id": "f1"}]', feedback=True)
    assert n == 1 and orjson.loads(data)["record_type"] == "feedback"
    data, _ = parse_records(b'{"feedback_id": "f2", "record_type": "feedback"}', feedback=True)
    assert orjson.loads(data)["record_type"] == "feedback"
    with pytest.raises(PayloadError, match="feedback records only"):
        parse_records(b'{"event_id": "e", "record_type": "interaction"}', feedback=True)


def test_gzip_bodies_are_inflated_within_the_limit() -> None:
    raw = b'{"event_id": "a"}\n' * 100
    assert decode_body(gzip.compress(raw), "gzip", limit=10_000) == raw
    assert decode_body(gzip.compress(raw[:900]) + gzip.compress(raw[900:]), "gzip", 10_000) == raw
    assert decode_body(raw, None, limit=1) == raw  # identity: the caller checked the wire size already


def test_gzip_bombs_and_broken_gzip_are_refused() -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    assert len(bomb) < 10_000
    with pytest.raises(PayloadError) as err:
        decode_body(bomb, "gzip", limit=1_000_000)
    assert err.value.status == 413
    with pytest.raises(PayloadError) as err:
        decode_body(gzip.compress(b"x" * 1000)[:-12], "gzip", limit=10_000)
    assert err.value.status == 400 and "truncated" in err.value.message
    with pytest.raises(PayloadError) as err:
        decode_body(b"not gzip", "gzip", limit=10_000)
    assert err.value.status == 400
    with pytest.raises(PayloadError) as err:
        decode_body(b"x", "br", limit=10_000)
    assert err.value.status == 415


def test_otlp_json_export_is_one_line_with_its_span_count() -> None:
    body = orjson.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [
        {"spans": [{"name": "chat gpt-4o"}, {"name": "chat gpt-4o"}]}, {"spans": [{"name": "x"}]}]}]},
        option=orjson.OPT_INDENT_2)
    data, spans = parse_otlp_traces(body, "application/json")
    assert spans == 3
    assert data.count(b"\n") == 1 and orjson.loads(data)["resourceSpans"][0]["scopeSpans"][1]["spans"][0]["name"] == "x"
    assert parse_otlp_traces(b'{"resourceSpans": []}', None) == (b"", 0)


@pytest.mark.parametrize(("body", "ctype", "status"), [
    (b"\x0a\x02", "application/x-protobuf", 415),
    (b"[]", "application/json", 400),
    (b'{"resourceSpans": {}}', "application/json", 400),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": 3}]}]}', "application/json", 400),
    (b"{", "application/json", 400),
])
def test_otlp_refusals(body: bytes, ctype: str, status: int) -> None:
    with pytest.raises(PayloadError) as err:
        parse_otlp_traces(body, ctype)
    assert err.value.status == status


def test_gzip_member_count_is_capped_and_many_members_are_not_copied_over_and_over() -> None:
    raw = b'{"event_id": "a"}\n'
    assert decode_body(gzip.compress(b"") * 9 + gzip.compress(raw), "gzip", 10_000, max_members=10) == raw
    assert decode_body(gzip.compress(raw) + b"\0" * 7 + gzip.compress(raw), "gzip", 10_000, max_members=2) == raw * 2
    with pytest.raises(PayloadError) as err:
        decode_body(gzip.compress(b"") * 11, "gzip", 10_000, max_members=10)
    assert err.value.status == 413 and "more than 10 gzip members" in err.value.message
    # A member larger than one feed slice (64 KiB compressed) followed by another.
    big = bytes(range(256)) * 2000
    noisy = gzip.compress(big, compresslevel=0)
    assert len(noisy) > 64 * 1024
    assert decode_body(noisy + gzip.compress(raw), "gzip", 1_000_000) == big + raw


@pytest.mark.parametrize("body", [
    b"[" + b",".join([b"{}"] * 6) + b"]",
    b"{}\n" * 6,
])
def test_more_records_than_the_limit_is_413(body: bytes) -> None:
    assert parse_records(body, max_records=6)[1] == 6
    with pytest.raises(PayloadError) as err:
        parse_records(body, max_records=5)
    assert err.value.status == 413 and "more than 5 records" in err.value.message


def test_more_spans_than_the_limit_is_413() -> None:
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "a"}] * 3}]}]})
    assert parse_otlp_traces(body, None, max_spans=3)[1] == 3
    with pytest.raises(PayloadError) as err:
        parse_otlp_traces(body, None, max_spans=2)
    assert err.value.status == 413 and "spans" in err.value.message


def test_payload_errors_survive_the_trip_from_a_worker_process() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(PayloadError(413, "too big")))
    assert (err.status, err.message) == (413, "too big")
