"""The replay tool on a real broker: Avro round trip, console-tool compatibility of the JSONL format (against
the real kafka-console-consumer/producer from the Kafka jars), contract validation into the DLQ, an interrupted
load resumed exactly once, and a consumer group's offsets reset to a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from connectors.replay.records import read_avro
from deploy.local.process import wait_until
from schemas.kafka import end_offsets, ensure_topics
from tests.support.kafka import delete_topics

pytestmark = pytest.mark.integration
T0 = 1_795_000_000_000


def _row(i: int) -> dict[str, object]:
    return {"event_id": str(uuid.UUID(int=i + 1)), "event_time": T0 + i, "ingested_at": None, "source": "test",
            "schema_version": 1, "request_id": f"r{i}", "post_id": f"p{i % 13}", "flow": "instagram_post",
            "status": "COMPLETE" if i % 3 else "FAILED", "attempt": 1, "error": None}  # fmt: skip


def _stir(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy.cli", *args], capture_output=True, text=True, timeout=300,
                          **kw)  # type: ignore[call-overload]  # fmt: skip


@pytest.fixture
def topics(stack, uid):
    names: list[str] = []

    def make(suffix: str) -> str:
        name = f"rp{uid}.{suffix}"
        ensure_topics(stack.bootstrap, [name], 4)
        names.append(name)
        return name

    yield make
    delete_topics(stack.bootstrap, names)


def _produce_rows(bootstrap: str, topic: str, n: int, rows_per_message: int = 1, headers: bool = True) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5})
    for start in range(0, n, rows_per_message):
        rows = [_row(i) for i in range(start, min(start + rows_per_message, n))]
        key = str(rows[0]["post_id"]).encode()
        value = "\n".join(json.dumps(r) for r in rows).encode()
        hdrs: list[tuple[str, str | bytes | None]] | None = (
            [("trace", f"t{start}".encode()), ("empty", None)] if headers else None
        )
        p.produce(topic, key=key, value=value, headers=hdrs, timestamp=T0 + start)
    assert p.flush(30) == 0


def _records(path: Path) -> list[tuple[object, ...]]:
    _, recs = read_avro(path)
    # partitions interleave in whatever order the fetches return: compare in (partition, offset) order
    return sorted((r.partition, r.offset, r.key, r.value, tuple(r.headers), r.timestamp) for r in recs)


def test_avro_round_trip_keeps_keys_values_headers_timestamps(stack, topics, tmp_path):
    src, dst = topics("social.scrape.status"), topics("copy.social.scrape.status")
    _produce_rows(stack.bootstrap, src, 3000, rows_per_message=7)
    first, second = tmp_path / "first.avro", tmp_path / "second.avro"
    assert _stir("replay", "dump", "--topic", src, "--out", str(first)).returncode == 0
    res = _stir("replay", "load", "--in", str(first), "--topic", dst, "--preserve-partitions")
    assert res.returncode == 0, res.stderr
    assert _stir("replay", "dump", "--topic", dst, "--out", str(second)).returncode == 0
    a, b = _records(first), _records(second)
    assert len(a) == 429 and a == b  # same partition, offset, key, value, headers (incl. a null one), timestamp
    meta, _ = read_avro(first)
    assert meta["stir.contract.topic"] == "social.scrape.status"
    assert json.loads(meta["stir.contract"])["stir.topic"] == "social.scrape.status"
    # a sub-range by offset and by time, and one key
    part = tmp_path / "part.avro"
    iso = "2026-11-18T11:06:40.100Z"  # T0 + 100 ms
    assert _stir("replay", "dump", "--topic", src, "--from", iso, "--to", "now", "--key", "p0", "--out",
                 str(part)).returncode == 0  # fmt: skip
    got = _records(part)
    assert got and all(k == b"p0" and ts >= T0 + 100 for _, _, k, _, _, ts in got)
    assert len(got) == sum(1 for r in a if r[2] == b"p0" and r[5] >= T0 + 100)


def _console(tool: str, *args: str, stdin: str | None = None) -> str:
    from deploy.local.settings import StackSettings

    jars = StackSettings().jar_dir / "kafka" / "*"
    cls = {"consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
           "producer": "org.apache.kafka.tools.ConsoleProducer"}[tool]  # fmt: skip
    res = subprocess.run(["java", "-cp", str(jars), cls, *args], input=stdin, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_jsonl_matches_the_console_tools(stack, topics, tmp_path):
    src, via_console, via_tool = topics("a.social.scrape.status"), topics("b.social.scrape.status"), topics("c.x")
    _produce_rows(stack.bootstrap, src, 400, headers=False)
    ours = tmp_path / "dump.jsonl"
    assert _stir("replay", "dump", "--topic", src, "--out", str(ours), "--format", "jsonl").returncode == 0
    lines = ours.read_text().splitlines()
    console = _console("consumer", "--bootstrap-server", stack.bootstrap, "--topic", src, "--from-beginning",
                       "--max-messages", "400", *CONSUMER_PROPS, "--timeout-ms", "20000")  # fmt: skip
    assert sorted(console.splitlines()) == sorted(lines) and len(lines) == 400
    # the console producer reads our file; our loader reads it too; both topics then dump to the same lines
    _console("producer", "--bootstrap-server", stack.bootstrap, "--topic", via_console, *PRODUCER_PROPS,
             stdin=ours.read_text())  # fmt: skip
    assert _stir("replay", "load", "--in", str(ours), "--topic", via_tool).returncode == 0
    for topic in (via_console, via_tool):
        again = tmp_path / f"{topic}.jsonl"
        assert _stir("replay", "dump", "--topic", topic, "--out", str(again), "--format", "jsonl").returncode == 0
        assert sorted(again.read_text().splitlines()) == sorted(lines)


CONSUMER_PROPS = ("--property", "print.key=true", "--property", "null.literal=<NULL>")
PRODUCER_PROPS = ("--property", "parse.key=true", "--property", "null.marker=<NULL>")
SHAPES = [(None, b'{"a":1}'), (b"", b'{"a":2}'), (b"null", b'{"a":3}'), (b"k", None), (b"k2", b""),
          (b"<NULL>x", b'{"a":4}')]  # fmt: skip


def _shapes(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"shapes-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    c.subscribe([topic])
    got: list[tuple[bytes | None, bytes | None]] = []
    while len(got) < len(SHAPES):
        m = c.poll(10)
        assert m is not None, got
        got.append((m.key(), m.value()))
    c.close()
    return got


def test_jsonl_keeps_tombstones_and_null_empty_and_literal_null_keys_both_ways(stack, topics, tmp_path):
    """Every record shape the console tools can carry survives dump → console producer and console consumer →
    load: a null key, an empty key, the literal key "null", a tombstone, an empty value."""
    src, via_console, via_tool = topics("src.x"), topics("console.x"), topics("tool.x")
    p = Producer({"bootstrap.servers": stack.bootstrap})
    for key, value in SHAPES:
        p.produce(src, key=key, value=value, partition=0)  # one partition: the order is kept
    assert p.flush(30) == 0
    ours = tmp_path / "shapes.jsonl"
    res = _stir("replay", "dump", "--topic", src, "--out", str(ours), "--format", "jsonl")
    assert res.returncode == 0, res.stderr
    console = _console("consumer", "--bootstrap-server", stack.bootstrap, "--topic", src, "--from-beginning",
                       "--max-messages", str(len(SHAPES)), *CONSUMER_PROPS, "--timeout-ms", "20000")  # fmt: skip
    assert console.splitlines() == ours.read_text().splitlines()
    _console("producer", "--bootstrap-server", stack.bootstrap, "--topic", via_console, *PRODUCER_PROPS,
             stdin=ours.read_text())  # fmt: skip
    from_console = tmp_path / "from-console.jsonl"
    from_console.write_text(console)
    res = _stir("replay", "load", "--in", str(from_console), "--topic", via_tool)
    assert res.returncode == 0, res.stderr
    assert sorted(_shapes(stack.bootstrap, via_console), key=repr) == sorted(SHAPES, key=repr)
    assert sorted(_shapes(stack.bootstrap, via_tool), key=repr) == sorted(SHAPES, key=repr)


HEADERED = [(b"k1", b'{"a":1}', [("dlq.reason", b"bad: event_time"), ("trace", None)]), (b"k2", b'{"a":2}', []),
            (None, None, [("h", b"")]), (b"k3", b'{"a":3}', [("dup", b"1"), ("dup", b"2")])]  # fmt: skip


def _headered(bootstrap: str, topic: str) -> list[tuple[Any, Any, list[Any]]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"h-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got: list[tuple[Any, Any, list[Any]]] = []
    while len(got) < len(HEADERED):
        m = c.poll(10)
        assert m is not None, got
        got.append((m.key(), m.value(), [h for h in m.headers() or [] if h[0] != "stir.replay"]))
    c.close()
    return got


def test_jsonl_headers_round_trip_with_the_console_tools_both_ways(stack, topics, tmp_path):
    """With --headers, our lines are what the console producer reads with parse.headers=true, and the console
    consumer's print.headers=true output is what our load reads (it prints NO_HEADERS where we write <NULL>)."""
    src, via_console, via_tool = topics("hsrc.x"), topics("hconsole.x"), topics("htool.x")
    p = Producer({"bootstrap.servers": stack.bootstrap})
    for key, value, headers in HEADERED:
        p.produce(src, key=key, value=value, headers=headers, partition=0)
    assert p.flush(30) == 0
    ours = tmp_path / "headers.jsonl"
    res = _stir("replay", "dump", "--topic", src, "--out", str(ours), "--format", "jsonl", "--headers")
    assert res.returncode == 0, res.stderr
    console = _console("consumer", "--bootstrap-server", stack.bootstrap, "--topic", src, "--from-beginning",
                       "--max-messages", str(len(HEADERED)), *CONSUMER_PROPS, "--property", "print.headers=true",
                       "--timeout-ms", "20000")  # fmt: skip
    ours_lines = ours.read_text().splitlines()
    assert ours_lines[0] == 'dlq.reason:bad: event_time,trace:<NULL>\tk1\t{"a":1}'
    assert [line.replace("NO_HEADERS\t", "<NULL>\t", 1) for line in console.splitlines()] == ours_lines
    _console("producer", "--bootstrap-server", stack.bootstrap, "--topic", via_console, *PRODUCER_PROPS,
             "--property", "parse.headers=true", stdin=ours.read_text())  # fmt: skip
    from_console = tmp_path / "from-console.jsonl"
    from_console.write_text(console)
    res = _stir("replay", "load", "--in", str(from_console), "--topic", via_tool, "--headers")
    assert res.returncode == 0, res.stderr
    want = sorted(HEADERED, key=repr)  # the keys spread the records over the partitions: compare as sets
    assert sorted(_headered(stack.bootstrap, via_console), key=repr) == want
    assert sorted(_headered(stack.bootstrap, via_tool), key=repr) == want


def test_a_load_refuses_a_missing_topic_a_second_run_and_what_jsonl_cannot_do(stack, topics, tmp_path, uid):
    src = topics("social.scrape.status")
    _produce_rows(stack.bootstrap, src, 4000, headers=False)
    f, lines = tmp_path / "rows.avro", tmp_path / "rows.jsonl"
    assert _stir("replay", "dump", "--topic", src, "--out", str(f)).returncode == 0
    assert _stir("replay", "dump", "--topic", src, "--out", str(lines), "--format", "jsonl").returncode == 0
    missing = f"rp{uid}.misspelled.social.scrape.status"
    res = _stir("replay", "load", "--in", str(f), "--topic", missing)
    assert res.returncode == 1 and "does not exist" in res.stderr and "--create" in res.stderr, res.stderr
    res = _stir("replay", "load", "--in", str(lines), "--topic", src, "--preserve-partitions")
    assert res.returncode == 1 and "Avro" in res.stderr, res.stderr
    from confluent_kafka.admin import AdminClient

    assert missing not in AdminClient({"bootstrap.servers": stack.bootstrap}).list_topics(timeout=10).topics
    created = topics("created.social.scrape.status")
    delete_topics(stack.bootstrap, [created])
    assert wait_until(lambda: created not in AdminClient({"bootstrap.servers": stack.bootstrap}
                                                           ).list_topics(timeout=10).topics, 30, 0.2)  # fmt: skip
    first = subprocess.Popen([sys.executable, "-m", "deploy.cli", "replay", "load", "--in", str(f), "--topic",
                              created, "--create", "--rate", "500"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)  # fmt: skip
    try:
        assert wait_until(lambda: end_offsets(stack.bootstrap, [created]) > 0, 60, 0.05)
        second = _stir("replay", "load", "--in", str(f), "--topic", created)
        assert second.returncode == 4 and "another load" in second.stderr, second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    md = AdminClient({"bootstrap.servers": stack.bootstrap}).list_topics(timeout=10).topics[created]
    assert len(md.partitions) == 4  # the source's


def test_invalid_records_go_to_the_dlq_with_their_reason(stack, topics, tmp_path):
    dst, dlq = topics("social.scrape.status"), topics("dlq.replay")
    f = tmp_path / "mixed.jsonl"
    bad = {**_row(1), "attempt": "three"}
    f.write_text(f"p1\t{json.dumps(_row(0))}\np1\t{json.dumps(bad)}\np2\tnot json\np3\t{json.dumps(_row(2))}\n")
    dry = _stir("replay", "load", "--in", str(f), "--topic", dst, "--dry-run")
    assert dry.returncode == 0 and "2 invalid" in dry.stdout
    assert end_offsets(stack.bootstrap, [dst, dlq]) == 0
    # the default DLQ topic is the deployment's (under its topic prefix)
    env = {**os.environ, "STIR_TOPIC_PREFIX": dlq.removesuffix("dlq.replay")}
    res = _stir("replay", "load", "--in", str(f), "--topic", dst, env=env)
    assert res.returncode == 0 and "2 sent, 2 invalid" in res.stdout and dlq in res.stdout, res.stdout + res.stderr
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"dlq-{uuid.uuid4()}",
                  "auto.offset.reset": "earliest"})  # fmt: skip
    c.subscribe([dlq])
    got = []
    while len(got) < 2:
        m = c.poll(10)
        assert m is not None
        got.append({k: v.decode() for k, v in m.headers()} | {"value": m.value().decode()})
    c.close()
    reasons = {g["value"]: g["dlq.reason"] for g in got}
    assert "attempt" in reasons[json.dumps(bad)] and "not JSON" in reasons["not json"]
    assert end_offsets(stack.bootstrap, [dst]) == 2
    # a second run refuses: the file was loaded completely
    again = _stir("replay", "load", "--in", str(f), "--topic", dst, "--dlq-topic", dlq)
    assert again.returncode == 3 and "already loaded" in again.stderr


def test_a_dump_by_event_time_holds_exactly_that_days_rows(stack, topics, tmp_path):
    """Re-feed a lost day: the rows whose event_time is in the day, from multi-row messages that mix days and
    arrive out of order (record timestamps are arrival times), and nothing else."""
    from datetime import UTC, datetime

    src = topics("social.scrape.status")
    step = 37 * 60_000  # 37 minutes: 3 days of rows
    rows = [{**_row(i), "event_time": T0 + ((i * 7919) % 120) * step} for i in range(120)]
    p = Producer({"bootstrap.servers": stack.bootstrap, "partitioner": "murmur2_random"})
    for start in range(0, len(rows), 9):
        chunk = rows[start : start + 9]
        p.produce(src, key=str(chunk[0]["post_id"]).encode(), value="\n".join(json.dumps(r) for r in chunk).encode())
    assert p.flush(30) == 0
    day = T0 - T0 % 86_400_000 + 86_400_000
    iso = [datetime.fromtimestamp(t / 1000, UTC).isoformat().replace("+00:00", "Z") for t in (day, day + 86_400_000)]
    f = tmp_path / "day.avro"
    res = _stir("replay", "dump", "--topic", src, "--event-from", iso[0], "--event-to", iso[1], "--out", str(f))
    assert res.returncode == 0, res.stderr
    _, recs = read_avro(f)
    got = sorted(json.loads(row)["event_id"] for r in recs for row in (r.value or b"").split(b"\n"))
    want = sorted(str(r["event_id"]) for r in rows if day <= int(str(r["event_time"])) < day + 86_400_000)
    assert got == want and 0 < len(want) < len(rows)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["int", "term", "kill"])
def test_interrupted_load_resumes_exactly_once(stack, topics, tmp_path, sig):
    """Stopped by a signal mid-load (SIGKILL included: records acknowledged after the last checkpoint write, or
    in flight, are found in the topic by their provenance header), the same command then delivers the rest:
    0 missing, 0 duplicates."""
    src, dst = topics("social.scrape.status"), topics("resume.social.scrape.status")
    _produce_rows(stack.bootstrap, src, 20_000, headers=False)
    f = tmp_path / "big.avro"
    assert _stir("replay", "dump", "--topic", src, "--out", str(f)).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "deploy.cli", "replay", "load", "--in", str(f), "--topic", dst,
                             "--rate", "4000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert wait_until(lambda: end_offsets(stack.bootstrap, [dst]) > 3000, 60, 0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130, stderr
        assert "run the same command to resume" in stderr
    delivered = end_offsets(stack.bootstrap, [dst])
    assert 3000 < delivered < 20_000
    res = _stir("replay", "load", "--in", str(f), "--topic", dst)
    assert res.returncode == 0, res.stderr
    assert f"{delivered} already delivered" in res.stdout, res.stdout
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"chk-{uuid.uuid4()}",
                  "auto.offset.reset": "earliest"})  # fmt: skip
    c.subscribe([dst])
    ids: Counter[str] = Counter()
    while sum(ids.values()) < 20_000:
        for m in c.consume(5000, 5):
            ids[json.loads(m.value())["event_id"]] += 1
    c.close()
    assert len(ids) == 20_000 and set(ids.values()) == {1}
    assert end_offsets(stack.bootstrap, [dst]) == 20_000


def test_reset_offsets_to_a_time(stack, topics, uid):
    topic = topics("social.scrape.status")
    _produce_rows(stack.bootstrap, topic, 800, headers=False)
    group = f"rg-{uid}"
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})  # fmt: skip
    c.subscribe([topic])
    n = 0
    while n < 800:
        n += len(c.consume(1000, 5))
    c.commit(asynchronous=False)
    busy = _stir("replay", "reset-offsets", "--group", group, "--topic", topic, "--to-time",
                 "2026-11-18T11:06:40.400Z", "--yes")  # fmt: skip
    assert busy.returncode == 1 and "active member" in busy.stderr
    c.close()
    no = _stir("replay", "reset-offsets", "--group", group, "--topic", topic, "--to-time", "2026-11-18T11:06:40.400Z",
               input="n\n")  # fmt: skip
    assert no.returncode == 1 and "aborted" in no.stderr
    res = _stir("replay", "reset-offsets", "--group", group, "--topic", topic, "--to-time",
                "2026-11-18T11:06:40.400Z", "--yes")  # fmt: skip
    assert res.returncode == 0, res.stderr
    probe = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": group})
    tps = [TopicPartition(topic, p) for p in range(4)]
    committed = {tp.partition: tp.offset for tp in probe.committed(tps, timeout=10)}
    expected = {tp.partition: tp.offset for tp in probe.offsets_for_times(
        [TopicPartition(topic, p, T0 + 400) for p in range(4)], timeout=10)}  # fmt: skip
    probe.close()
    assert committed == expected and sum(committed.values()) > 0
