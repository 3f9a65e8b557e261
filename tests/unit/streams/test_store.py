"""The disk store (``streams/store.py``) through faust's table interface: rows and offsets written together, read
back by a new store on the same file (a restart), the recovery's batches, deletes, a bounded cache, and the
active partitions only in ``records()``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import orjson
import pytest
from faust.types import TP

from streams.store import DiskStore, StateFile


def _store(tmp_path: Path, name: str = "profiles") -> Any:
    app = faust.App(f"store-test-{tmp_path.name}", datadir=str(tmp_path), store="stir://")
    table = app.Table(name, default=None, partitions=4, key_type=bytes)
    store = table.data
    assert isinstance(store, DiskStore)
    return store


@dataclass
class _Msg:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class _Event:
    message: _Msg


def test_rows_and_offsets_survive_a_restart(tmp_path):
    store = _store(tmp_path)
    topic = store.table.changelog_topic_name
    store.write(
        [(b"a", 1, {"v": 1}, b'{"v":1}'), (b"b", 2, {"v": 2}, b'{"v":2}')],
        {(topic, 1): (0, 0, 1), (topic, 2): (0, 0, 1)},
    )
    store.write([(b"a", 1, {"v": 3}, b'{"v":3}'), (b"c", 1, {"v": 4}, b'{"v":4}')], {(topic, 1): (1, 2, 2)})
    assert store.get(b"a") == {"v": 3}
    again = _store(tmp_path)  # a new process on the same data dir
    assert again.cache == {}
    assert again.get(b"a") == {"v": 3} and again.get(b"b") == {"v": 2} and again.get(b"z") is None
    assert again.persisted_offset(TP(topic, 1)) == 2
    assert again.persisted_offset(TP(topic, 2)) == 0
    assert again.persisted_offset(TP(topic, 0)) is None


def test_offsets_only_move_forward_and_acknowledgement_callbacks_are_ignored(tmp_path):
    store = _store(tmp_path)
    topic = store.table.changelog_topic_name
    batch = [_Event(_Msg(topic, 0, o, b"a", str(o).encode())) for o in range(11)]
    store.apply_changelog_batch(batch, lambda k: k, lambda v: v)
    store.apply_changelog_batch(batch[:4], lambda k: k, lambda v: v)  # a recovery batch older than the checkpoint
    store.set_persisted_offset(TP(topic, 0), 50)  # faust calls this on every acknowledgement: ignored
    assert store.persisted_offset(TP(topic, 0)) == 10
    assert store.get(b"a") == 10  # the row did not go back to the older batch's value
    again = _store(tmp_path)
    assert again.get(b"a") == 10


def test_a_run_finished_after_its_partition_was_lost_does_not_overwrite_a_standby_recovery(tmp_path):
    """The worker processed partition 0 (checkpoint 5), lost it, and holds it as a standby. The changelog then
    has the new owner's 6..7, the worker's own last run 8..9 and the new owner's 10, all applied by the standby
    recovery, when the last run's acknowledgement (8..9) comes back: its rows are left out (they would take the
    key back from 10 to 8) and the checkpoint stays 10."""
    store = _store(tmp_path)
    topic = store.table.changelog_topic_name
    asyncio.run(store.on_recovery_completed({TP(topic, 0)}, set()))
    store.write([(b"a", 0, 1, b"1")], {(topic, 0): (0, 5, 6)})
    asyncio.run(store.on_rebalance(set(), {TP(topic, 0)}, set()))
    asyncio.run(store.on_recovery_completed(set(), {TP(topic, 0)}))  # now a standby
    log = [(6, b"a", b"2"), (7, b"b", b"3"), (8, b"a", b"8"), (9, b"c", b"9"), (10, b"a", b"4")]
    store.apply_changelog_batch([_Event(_Msg(topic, 0, o, k, v)) for o, k, v in log], lambda k: k, lambda v: v)
    store.write([(b"a", 0, 8, b"8"), (b"c", 0, 9, b"9")], {(topic, 0): (8, 9, 2)})  # the late run's records
    assert store.persisted_offset(TP(topic, 0)) == 10
    assert store.get(b"a") == 4 and store.get(b"b") == 3 and store.get(b"c") == 9
    again = _store(tmp_path)
    assert again.get(b"a") == 4


def test_a_checkpoint_never_steps_over_another_writers_records(tmp_path):
    """A worker that lost a partition and finished its run anyway: its acknowledged offsets do not follow on from
    its checkpoint (the new owner wrote 6..8), so the checkpoint stays and the next recovery replays 6.. ."""
    store = _store(tmp_path)
    topic = store.table.changelog_topic_name
    asyncio.run(store.on_recovery_completed({TP(topic, 0)}, set()))  # the worker processes partition 0
    store.write([(b"a", 0, 1, b"1")], {(topic, 0): (5, 5, 1)})  # no checkpoint yet, first record at 5: a gap
    assert store.persisted_offset(TP(topic, 0)) is None
    store.write([(b"a", 0, 1, b"1")], {(topic, 0): (0, 5, 6)})
    assert store.persisted_offset(TP(topic, 0)) == 5
    store.write([(b"a", 0, 2, b"2")], {(topic, 0): (9, 9, 1)})  # 6..8 are someone else's
    assert store.persisted_offset(TP(topic, 0)) == 5
    store.write([(b"b", 0, 3, b"3"), (b"c", 0, 4, b"4")], {(topic, 0): (6, 8, 2)})  # a hole inside the acks
    assert store.persisted_offset(TP(topic, 0)) == 5
    assert store.get(b"a") == 2  # an active partition's rows are written (the replay from 6 will overwrite them)


def test_recovery_batches_write_rows_deletes_and_their_last_offset(tmp_path):
    store = _store(tmp_path)
    topic = store.table.changelog_topic_name
    store.write([(b"gone", 3, {"v": 0}, b'{"v":0}')], {(topic, 3): (0, 0, 1)})
    assert store.get(b"gone") == {"v": 0}  # now cached
    batch = [_Event(_Msg(topic, 3, 1, b"k", b'{"v":1}')), _Event(_Msg(topic, 3, 2, b"k", b'{"v":2}')),
             _Event(_Msg(topic, 3, 3, b"gone", None)), _Event(_Msg(topic, 0, 5, None, b"x"))]  # fmt: skip
    store.apply_changelog_batch(batch, lambda k: k, lambda v: v)
    assert store.get(b"k") == {"v": 2}
    assert store.get(b"gone") is None  # the tombstone deleted it, cache included
    assert store.persisted_offset(TP(topic, 3)) == 3
    assert store.persisted_offset(TP(topic, 0)) == 5  # the keyless record was not applied, but it was read


def test_the_cache_is_bounded_and_reads_fall_through_to_the_file(tmp_path):
    store = _store(tmp_path)
    store.cache_keys = 100
    topic = store.table.changelog_topic_name
    rows = [(f"k{i}".encode(), i % 4, {"i": i}, orjson.dumps({"i": i})) for i in range(1000)]
    store.write(rows, {(topic, p): (0, 249, 250) for p in range(4)})
    assert len(store.cache) == 100
    assert all(store.get(f"k{i}".encode()) == {"i": i} for i in range(1000))
    assert len(store.cache) == 100


def test_records_and_len_cover_the_active_partitions_only(tmp_path):
    store = _store(tmp_path)
    topic = store.table.changelog_topic_name
    store.write([(b"a", 0, 1, b"1"), (b"b", 1, 2, b"2"), (b"c", 2, 3, b"3")],
                {(topic, 0): (0, 0, 1), (topic, 1): (0, 0, 1), (topic, 2): (0, 0, 1)})  # fmt: skip
    assert list(store.records()) == [] and len(store) == 0  # nothing recovered yet
    asyncio.run(store.on_recovery_completed({TP(topic, 0), TP(topic, 2), TP("other", 1)}, {TP(topic, 1)}))
    assert sorted(store.records()) == [(b"a", 1), (b"c", 3)] and len(store) == 2
    asyncio.run(store.on_rebalance({TP(topic, 0)}, {TP(topic, 2)}, set()))
    assert list(store.records()) == [] and store.cache == {}  # nothing is active until the recovery completes
    asyncio.run(store.on_recovery_completed({TP(topic, 0)}, set()))
    assert sorted(store.records()) == [(b"a", 1)]


def test_the_store_is_written_only_after_acknowledgements(tmp_path):
    store = _store(tmp_path)
    with pytest.raises(TypeError, match=r"StateTable\.write"):
        store[b"a"] = 1


def test_a_failed_transaction_leaves_neither_rows_nor_offsets(tmp_path):
    file = StateFile(tmp_path / "t.sqlite3")
    file.write([(b"a", 0, b"1")], {("t", 0): 1})
    with pytest.raises(Exception):  # noqa: B017 (a NOT NULL partition: sqlite refuses the whole batch)
        file.write([(b"b", 0, b"2"), (b"c", None, b"3")], {("t", 0): 2})
    assert file.get(b"b") is None and file.offset("t", 0) == 1
    assert (tmp_path / "t.sqlite3").stat().st_mode & 0o777 == 0o600


def test_files_of_another_changelog_topic_or_unreadable_are_rebuilt(tmp_path):
    from streams.store import forget_foreign_checkpoints

    for name in ("kept", "adopted", "recreated", "gone", "broken"):
        if name == "broken":
            (tmp_path / f"{name}.sqlite3").write_bytes(b"not a database, not at all" * 100)
            continue
        f = StateFile(tmp_path / f"{name}.sqlite3")
        f.write([(b"k", 0, b"1")], {(f"{name}-changelog", 0): 7})
        if name != "adopted":
            f.db.execute("INSERT INTO meta (name, value) VALUES ('changelog_topic_id', 'id-1')")
        f.close()
    changelogs = {"kept": "id-1", "adopted": "id-9", "recreated": "id-2", "gone": None, "broken": "id-1",
                  "never": "id-3"}  # fmt: skip
    assert sorted(forget_foreign_checkpoints(tmp_path, changelogs)) == ["broken", "gone", "recreated"]
    assert sorted(p.name for p in tmp_path.glob("*.sqlite3")) == ["adopted.sqlite3", "kept.sqlite3"]
    assert StateFile(tmp_path / "kept.sqlite3").offset("kept-changelog", 0) == 7
    assert forget_foreign_checkpoints(tmp_path, {"adopted": "id-9"}) == []  # adopted the id it found
    assert forget_foreign_checkpoints(tmp_path, {"adopted": "id-10"}) == ["adopted"]
