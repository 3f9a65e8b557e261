"""The JSONL (console tools) line format of replay files, against lines written by hand from the console tools'
documented properties: headers first (``name:value`` joined by ``,``), then key and value, ``<NULL>`` for null."""

from __future__ import annotations

import pytest

from connectors.replay.records import Jsonl, Record, jsonl_lines, read_jsonl

WITH_HEADERS = Jsonl("\t", headers=True)


def lines(record: Record, fmt: Jsonl = WITH_HEADERS) -> list[str]:
    return list(jsonl_lines(record, fmt))


def test_headers_come_first_as_name_value_pairs_and_null_is_the_marker():
    r = Record(b"k1", b'{"a":1}', headers=[("dlq.reason", b"bad: event_time"), ("trace", None), ("empty", b"")])
    assert lines(r) == ['dlq.reason:bad: event_time,trace:<NULL>,empty:\tk1\t{"a":1}']
    assert lines(Record(None, None)) == ["<NULL>\t<NULL>\t<NULL>"]  # no headers, null key, tombstone
    assert lines(Record(b"k", b"")) == ["<NULL>\tk\t"]
    assert lines(Record(b"k", b'{"a":1}\n{"a":2}', headers=[("h", b"v")])) == ['h:v\tk\t{"a":1}', 'h:v\tk\t{"a":2}']
    assert lines(Record(b"k", b'{"a":1}', headers=[("h", b"v")]), Jsonl("\t")) == ['k\t{"a":1}']


def test_lines_read_back_to_the_same_records(tmp_path):
    records = [Record(b"k1", b'{"a":1}', headers=[("x", b"1"), ("y", None)]), Record(None, None),
               Record(b"", b"", headers=[("only", b"")]), Record(b"null", b'{"b":2}')]  # fmt: skip
    f = tmp_path / "r.jsonl"
    f.write_text("".join(line + "\n" for r in records for line in lines(r)))
    got = [(r.key, r.value, r.headers) for r in read_jsonl(f, WITH_HEADERS)]
    assert got == [(r.key, r.value, r.headers) for r in records]


def test_what_the_console_consumer_prints_for_no_headers_reads_as_none(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('NO_HEADERS\tk\t{"a":1}\nh:v:w\tk\t{"a":2}\n')
    got = [(r.key, r.headers) for r in read_jsonl(f, WITH_HEADERS)]
    assert got == [(b"k", []), (b"k", [("h", b"v:w")])]


@pytest.mark.parametrize(
    "record, what",
    [
        (Record(b"a\tb", b"{}"), "key"),
        (Record(b"<NULL>", b"{}"), "key"),
        (Record(b"\xff", b"{}"), "not UTF-8"),
        (Record(b"k", b"{}", headers=[("a:b", b"v")]), "header name"),
        (Record(b"k", b"{}", headers=[("a", b"x,y")]), "header 'a'"),
        (Record(b"k", b"{}", headers=[("a", b"<NULL>")]), "header 'a'"),
    ],
)
def test_what_a_line_cannot_carry_is_refused_naming_the_record(record, what):
    record.topic, record.partition, record.offset = "t", 2, 7
    with pytest.raises(ValueError, match="t/2@7") as e:
        lines(record)
    assert what in str(e.value) and "--format avro" in str(e.value)


def test_a_header_without_its_separator_is_an_error_naming_the_line(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('h:v\tk\t{"a":1}\noops\tk\t{"a":2}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: header 'oops'"):
        list(read_jsonl(f, WITH_HEADERS))
    f.write_text('k\t{"a":1}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: not headers, key and value"):
        list(read_jsonl(f, WITH_HEADERS))


def test_a_carriage_return_is_refused_as_the_console_producer_breaks_lines_on_it_too():
    for record in (Record(b"k", b'{"a":"x\r"}'), Record(b"k\r", b"{}"), Record(b"k", b"{}", headers=[("h", b"\r")])):
        record.topic = "t"
        with pytest.raises(ValueError, match="--format avro"):
            lines(record)


def test_a_separator_the_headers_would_read_as_theirs_is_refused():
    for sep in (",", ":", "a,b", "", "\n"):
        with pytest.raises(ValueError, match="key separator"):
            Jsonl(sep, headers=True)
    assert Jsonl(",").separator == ","  # without headers a comma is a fine key separator


def test_a_split_message_says_one_row_per_line_and_a_blank_value_stays(tmp_path):
    r = Record(b"k", b'{"a":1}\n{"a":2}', headers=[("rows", b"2"), ("content-type", b"application/x-ndjson")])
    assert lines(r) == ['rows:1,content-type:application/x-ndjson\tk\t{"a":1}',
                        'rows:1,content-type:application/x-ndjson\tk\t{"a":2}']  # fmt: skip
    assert lines(Record(b"k", b'{"a":1}', headers=[("rows", b"1")])) == ['rows:1\tk\t{"a":1}']
    f = tmp_path / "blank.jsonl"
    f.write_text("".join(line + "\n" for line in lines(Record(b"k", b" "))))
    assert [(r.key, r.value) for r in read_jsonl(f, WITH_HEADERS)] == [(b"k", b" ")]
