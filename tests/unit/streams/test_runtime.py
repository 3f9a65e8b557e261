"""The shared plumbing (``streams/runtime.py``) and the wiring (``streams/app.py``) without a broker: fake topics
and tables record what is sent, acknowledged and written, in order."""

from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from schemas.kafka import partition_for
from schemas.topics import AGENTS, TOPICS, Topology, read_by
from streams import runtime
from streams.agents import STREAM_AGENTS, posts
from streams.app import StreamsApp, inputs, topics
from streams.runtime import Runtime, StateTable, chunks
from streams.settings import StreamsSettings
from streams.transforms.post import PostState


class Log(list[Any]):
    def ack(self, tag: str) -> Any:
        log = self

        class Ack:
            def __await__(self) -> Any:
                log.append(("ack", tag))
                yield from asyncio.sleep(0).__await__()

        return Ack()


class FakeTopic:
    def __init__(self, name: str, log: Log) -> None:
        self.name, self.log = name, log

    async def send(self, key: bytes, value: bytes, partition: int | None = None, headers: Any = None) -> Any:
        self.log.append(("send", self.name, key, partition, value, headers))
        return self.log.ack(f"{self.name}:{len(self.log)}")


class FakeTable(dict[bytes, Any]):
    def __init__(self, log: Log) -> None:
        super().__init__()
        self.log = log

    @property
    def data(self) -> dict[bytes, Any]:
        return self

    def partition_for_key(self, key: bytes) -> int:
        return partition_for(key, 8)

    @property
    def changelog_topic(self) -> Any:
        return SimpleNamespace(get_topic_name=lambda: "t.app-posts-changelog")

    @property
    def app(self) -> Any:
        table = self

        class Producer:
            async def send(self, topic: str, key: bytes, value: bytes, partition: int | None, timestamp: Any,
                           headers: Any) -> Any:  # fmt: skip
                assert topic == "t.app-posts-changelog" and isinstance(value, bytes)  # the JSON, encoded once
                table.log.append(("changelog", partition, key, json.dumps(json.loads(value), sort_keys=True)))
                return table.log.ack(f"changelog:{key.decode()}")

        async def maybe_start_producer() -> Any:
            return Producer()

        return SimpleNamespace(maybe_start_producer=maybe_start_producer)


def _runtime(log: Log, **settings: Any) -> Runtime:
    s = StreamsSettings(topic_prefix="t.", clock_ms=1_790_000_000_000, **settings)
    outputs = {t.name: FakeTopic(t.name, log) for t in TOPICS if set(t.writers) & set(AGENTS)}
    return Runtime(SimpleNamespace(), s, Topology(s), outputs)


def _event(topic: str, value: bytes | None, offset: int = 7) -> Any:
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=3, offset=offset, key=b"k"), value=value)


def _snapshot(post_id: str, event_id: str, t: int) -> bytes:
    row = {"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, event_id)), "event_time": t, "ingested_at": None,
           "source": "test", "schema_version": 1, "post_id": post_id, "profile_id": "p1", "platform": "instagram",
           "post_type": "reel", "published_at": t - 1000, "likes": 3, "comments": 1, "views": None,
           "plays": None}  # fmt: skip
    return json.dumps(row).encode()


STATUS = {"event_id": "8d6e2c1a-0b7c-4c1e-9d55-1f2f3b9c1d42", "event_time": 1_789_999_999_000, "ingested_at": None,
          "source": "t", "schema_version": 1, "request_id": "r1", "post_id": "a", "attempt": 1, "status": "FAILED",
          "flow": "instagram_post"}  # fmt: skip


def test_a_run_sends_then_waits_for_every_ack_then_persists_awaiting_the_changelog() -> None:
    log = Log()
    rt = _runtime(log)
    table = StateTable(FakeTable(log), PostState)
    events = [
        _event("t.social.post.snapshot", _snapshot("a", "e1", 1_789_999_000_000) + b"\nnot json"),
        _event("t.social.scrape.status", json.dumps(STATUS).encode()),
        _event("t.social.post.snapshot", None, offset=9),
    ]
    asyncio.run(rt.handle(events, posts.AGENT, posts.handle, table))
    kinds = [x[0] for x in log]
    dlq = [x for x in log if x[0] == "send" and x[1] == "dlq.streams"]
    assert [x[4] for x in dlq] == [b"not json", b""]  # the bad line, and the empty message
    assert dict(dlq[0][5])["dlq.topic"] == b"t.social.post.snapshot" and dict(dlq[1][5])["dlq.offset"] == b"9"
    outputs = [x for x in log if x[0] == "send" and x[1] != "dlq.streams"]
    assert {x[1] for x in outputs} == {"internal.post.by_profile", "status.scrape.post"}
    last_output_ack = max(i for i, x in enumerate(log) if x[0] == "ack" and not x[1].startswith(("dlq", "changelog")))
    assert kinds.index("changelog") > last_output_ack  # states are written after the outputs are acknowledged
    assert kinds[-1] == "ack" and log[-1][1] == "changelog:a"  # and the run ends when the changelog is acked
    assert type(table.table[b"a"]) is PostState  # the table holds the record, the changelog its JSON
    assert json.loads(log[kinds.index("changelog")][3]) == json.loads(json.dumps(table.table[b"a"].to_json()))


def test_one_message_per_topic_and_partition_within_the_row_and_byte_limits() -> None:
    log = Log()
    rt = _runtime(log, max_rows_per_message=3, max_message_bytes=1024)
    rows = [(str(i % 5), b"x" * 300) for i in range(20)]
    asyncio.run(rt.send("posts", {"status.scrape.post": rows}))
    sent = [x for x in log if x[0] == "send"]
    assert all(x[2].decode() in {k for k, _ in rows} for x in sent)
    assert all(partition_for(x[2], rt.s.partitions) == x[3] for x in sent)
    assert all(len(x[4]) <= 1024 and x[4].count(b"\n") < 3 for x in sent)
    assert sum(x[4].count(b"\n") + 1 for x in sent) == 20
    assert [x[0] for x in log] == ["send"] * len(sent) + ["ack"] * len(sent)  # all sent before any ack is awaited
    assert chunks([], 3, 1024) == [[]]


def test_recovered_json_becomes_a_record_on_first_read() -> None:
    table = FakeTable(Log())
    state = PostState(snapshots_applied=2)
    table[b"a"] = json.loads(json.dumps(state.to_json()))  # as the changelog recovery leaves it
    t = StateTable(table, PostState)
    assert t.get("a") == state and type(table[b"a"]) is PostState
    table[b"b"] = json.loads(json.dumps(state.to_json()))
    assert list(t.items()) == [("a", state), ("b", state)] and type(table[b"b"]) is PostState
    assert t.get("missing") is None and len(t) == 2


def test_a_failing_run_exits_70(monkeypatch: pytest.MonkeyPatch) -> None:
    async def recovered(app: Any) -> None:
        return None

    def exit_(code: int) -> None:
        raise SystemExit(code)

    def broken(*args: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(runtime.faust_fixes, "wait_for_table_recovery", recovered)
    monkeypatch.setattr(runtime.os, "_exit", exit_)
    rt = _runtime(Log())
    with pytest.raises(SystemExit) as e:
        asyncio.run(rt.handle_or_die([_event("t.social.post.snapshot", b"")], "posts", broken, None))  # type: ignore[arg-type]
    assert e.value.code == 70


def test_the_app_is_wired_from_the_declared_topology() -> None:
    s = StreamsSettings(topic_prefix="w.")
    app = StreamsApp(s, "127.0.0.1:1")
    topo = Topology(s)
    names = [a.name for a in STREAM_AGENTS]
    assert list(app.handlers) == list(app.tables) == list(app.inputs) == names
    assert set(names) | {"refresh"} == set(AGENTS)
    for name in names:
        assert set(app.inputs[name].topics) == set(topo.names(read_by(name)))
        assert app.tables[name].table.name == name
    assert sorted(a.name for a in app.app.agents.values()) == sorted(names)
    assert set(app.runtime.outputs) == {t.name for t in TOPICS if set(t.writers) & set(AGENTS)}
    assert set(inputs(s)) <= set(topics(s)) and "w.dlq.streams" in topics(s)


def test_a_row_that_makes_the_handler_raise_is_dead_lettered_and_the_others_apply():
    def handler(name: str, value: bytes | None, get_state: Any, settings: Any, now_ms: int) -> Any:
        res = runtime.BatchResult()
        for line in (value or b"").split(b"\n"):
            row = json.loads(line)
            if row.get("boom"):
                raise ArithmeticError("derived value out of range")
            key = row["k"]
            res.states[key] = (get_state(key) or 0) + row["n"]
            res.out["t"].append((key, line))
            res.rows_in += 1
        return res

    value = b'{"k": "a", "n": 1}\n{"k": "b", "n": 5, "boom": true}\n{"k": "a", "n": 2}'
    res = runtime.run_isolated(handler, "x", value, lambda _k: 10, StreamsSettings(), 0, "agent")
    assert res.states == {"a": 13}  # the two good rows, in order, on the stored state
    assert [k for k, _ in res.out["t"]] == ["a", "a"] and res.rows_in == 3
    assert [b.line for b in res.bad] == [b'{"k": "b", "n": 5, "boom": true}']
    assert "ArithmeticError: derived value out of range" in res.bad[0].reason
    single = runtime.run_isolated(handler, "x", b'{"boom": 1}', lambda _k: None, StreamsSettings(), 0, "agent")
    assert single.states == {} and len(single.bad) == 1 and single.bad[0].line == b'{"boom": 1}'


def test_an_output_row_that_does_not_fit_its_wire_type_is_refused():
    from streams.transforms.records import OutputRejected, checked

    assert checked({"a": 2**63 - 1, "b": 1.5, "c": None}, "t")["a"] == 2**63 - 1
    for bad in (-(2**63) - 1, 2**64, float("nan"), float("inf")):
        with pytest.raises(OutputRejected):
            checked({"v": bad}, "t")


def test_a_run_is_handled_in_slices_of_bounded_input_bytes() -> None:
    from streams.runtime import byte_slices

    events = [SimpleNamespace(value=b"x" * n) for n in (10, 20, 30, 5, 100, 1)] + [SimpleNamespace(value=None)]
    parts = byte_slices(events, 40)
    assert [[len(e.value or b"") for e in p] for p in parts] == [[10, 20], [30, 5], [100], [1, 0]]
    assert [e for p in parts for e in p] == events  # nothing lost or reordered; an oversized message alone
    assert byte_slices([], 40) == [[]]


def test_each_slice_is_sent_and_persisted_before_the_next_is_decoded() -> None:
    log = Log()
    rt = _runtime(log, run_max_bytes=1024)
    table = StateTable(FakeTable(log), PostState)
    t = 1_789_999_000_000
    events = [_event("t.social.post.snapshot", _snapshot(p, f"e{p}", t) + b"\n" + _snapshot(p, f"f{p}", t + 1),
                     offset=i) for i, p in enumerate(("a", "b", "c"))]  # fmt: skip
    assert all(512 < len(e.value) <= 1024 for e in events)  # one message per slice
    asyncio.run(rt.handle(events, posts.AGENT, posts.handle, table))
    assert [x[2] for x in log if x[0] == "changelog"] == [b"a", b"b", b"c"]
    for before, after in (("a", "b"), ("b", "c")):
        acked = log.index(("ack", f"changelog:{before}"))
        sent = min(i for i, x in enumerate(log) if x[0] == "send" and f'"post_id": "{after}"'.encode() in x[4])
        assert acked < sent  # a slice's states are persisted before the next slice's outputs are sent
