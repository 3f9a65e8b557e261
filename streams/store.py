"""The agents' state on disk: a faust table store (``store="stir://"``) over one SQLite file per table, with the
changelog offset each partition's rows correspond to, written in the same transaction as the rows.

The changelog stays the source of truth; the file is a checkpoint of it. A restarted worker, or one given a
partition it held before, reads the changelog only from the partition's persisted offset on (faust's recovery
asks ``persisted_offset``), so a restart costs the records written since the last checkpoint, not the whole
history. The rows of a partition up to its checkpoint are exactly a prefix of the changelog:

- an agent's writes (``write``) go to the file only after the broker has acknowledged their changelog records,
  together with those records' offsets (``streams/runtime.py`` awaits them);
- the recovery's batches (``apply_changelog_batch``, active and standby partitions alike) go in with the offset
  of the last record applied.

A SIGKILL between an acknowledgement and the transaction loses nothing: the file is behind, and the recovery
replays the difference. When another writer's records come before or among this worker's (a zombie run), the
checkpoint holds where it is while the rows of a partition still processed here go on being written: they run
ahead of the checkpoint, and the next recovery replays the changelog from the checkpoint over them.
faust's own ``set_persisted_offset`` (called as each changelog record is acknowledged, possibly before its row
is written) is ignored.

Reads go through a bounded cache of decoded state records (``STIR_STREAMS_STATE_CACHE_KEYS``): memory follows
the cache, not the number of keys or events. The cache is emptied at every rebalance (another worker may have
changed a partition meanwhile; the file, recovered, is right). Values are the changelog's bytes (the records'
JSON form); ``decode`` turns them into records (set by ``streams.runtime.StateTable``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from faust.stores import base
from faust.types import TP

from streams import metrics as m

log = logging.getLogger("stir.streams")
DEFAULT_CACHE_KEYS = 50_000
SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key BLOB PRIMARY KEY, part INTEGER NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS state_part ON state (part);
CREATE TABLE IF NOT EXISTS offsets (topic TEXT NOT NULL, part INTEGER NOT NULL, "offset" INTEGER NOT NULL,
                                    PRIMARY KEY (topic, part)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
UPSERT = "INSERT INTO state (key, part, value) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET part = excluded.part, value = excluded.value"  # noqa: E501
SET_OFFSET = 'INSERT INTO offsets (topic, part, "offset") VALUES (?, ?, ?) ON CONFLICT (topic, part) DO UPDATE SET "offset" = max("offset", excluded."offset")'  # noqa: E501


class StateFile:
    """One table's rows and changelog offsets in a SQLite file (WAL: a committed transaction survives a SIGKILL
    of the process; an OS crash may lose the last ones, and then their offsets with them)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        os.chmod(path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def get(self, key: bytes) -> bytes | None:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def write(self, rows: Iterable[tuple[bytes, int, bytes | None]], offsets: dict[tuple[str, int], int]) -> None:
        """Rows ``(key, partition, value or None to delete)`` and the offsets they reach, in one transaction."""
        puts, dels = [], []
        for key, part, value in rows:
            if value is None:
                dels.append((key,))
            else:
                puts.append((key, part, value))
        with self.db:  # BEGIN ... COMMIT (ROLLBACK on error)
            self.db.execute("BEGIN")
            if puts:
                self.db.executemany(UPSERT, puts)
            if dels:
                self.db.executemany("DELETE FROM state WHERE key = ?", dels)
            self.db.executemany(SET_OFFSET, [(t, p, o) for (t, p), o in offsets.items()])

    def offset(self, topic: str, part: int) -> int | None:
        row = self.db.execute('SELECT "offset" FROM offsets WHERE topic = ? AND part = ?', (topic, part)).fetchone()
        return None if row is None else int(row[0])

    def items(self, parts: Iterable[int]) -> Iterator[tuple[bytes, bytes]]:
        wanted = sorted(set(parts))
        if not wanted:
            return
        marks = ",".join("?" * len(wanted))
        for key, value in self.db.execute(f"SELECT key, value FROM state WHERE part IN ({marks})", wanted):
            yield bytes(key), bytes(value)

    def count(self, parts: Iterable[int]) -> int:
        wanted = sorted(set(parts))
        if not wanted:
            return 0
        marks = ",".join("?" * len(wanted))
        return int(self.db.execute(f"SELECT count(*) FROM state WHERE part IN ({marks})", wanted).fetchone()[0])

    def close(self) -> None:
        self.db.close()


def forget_foreign_checkpoints(tabledir: Path, changelogs: dict[str, str | None]) -> list[str]:
    """Before the worker starts: delete each table's state file that does not belong to its changelog topic as
    it is now (``changelogs``: table name → the topic's Kafka topic id, None when it does not exist yet), and
    files SQLite cannot open. A file's offsets only mean something against the topic they were read from: a
    re-created changelog would otherwise make faust refuse to start (the offsets lie past its end) or resume from
    foreign offsets. A file written before topic ids were recorded adopts the current one. The tables are then
    rebuilt from the changelogs. Returns the names of the tables whose files were deleted."""
    dropped = []
    for name, topic_id in changelogs.items():
        path = tabledir / f"{name}.sqlite3"
        if not path.exists():
            continue
        try:
            file = StateFile(path)
            try:
                row = file.db.execute("SELECT value FROM meta WHERE name = 'changelog_topic_id'").fetchone()
                if row is None and topic_id is not None:
                    file.db.execute("INSERT INTO meta (name, value) VALUES ('changelog_topic_id', ?)", (topic_id,))
                    continue
                if row is not None and row[0] == topic_id:
                    continue
            finally:
                file.close()
        except sqlite3.DatabaseError as e:
            log.warning("table %s: state file %s cannot be read (%s); rebuilding it from the changelog", name, path, e)
        else:
            log.warning("table %s: state file %s belongs to another changelog topic; rebuilding it", name, path)
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
        dropped.append(name)
    return dropped


class DiskStore(base.Store):
    """faust's table store interface over a ``StateFile`` (see the module's docstring). Registered as the
    ``stir`` store scheme through the ``faust.stores`` entry point (``pyproject.toml``)."""

    decode: Callable[[bytes], Any] = staticmethod(orjson.loads)
    cache_keys: int = DEFAULT_CACHE_KEYS

    def __post_init__(self) -> None:  # faust's Store calls this at the end of __init__
        self._file: StateFile | None = None
        self.cache: OrderedDict[bytes, Any] = OrderedDict()
        self.active: set[int] = set()  # partitions this worker processes (the rest on disk are standby or old)

    @property
    def file(self) -> StateFile:
        """Opened on first use (building the app touches no disk)."""
        if self._file is None:
            self._file = StateFile(Path(self.app.conf.tabledir) / f"{self.table_name}.sqlite3")
        return self._file

    # --- what the agents use ------------------------------------------------------------------------------
    def get(self, key: bytes, default: Any = None) -> Any:
        """The key's state record, or ``default``."""
        cache = self.cache
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        raw = self.file.get(key)
        if raw is None:
            return default
        value = self.decode(raw)
        self._remember(key, value)
        return value

    def write(self, rows: list[tuple[bytes, int, Any, bytes]],
              acked: dict[tuple[str, int], tuple[int, int, int]]) -> None:  # fmt: skip
        """Rows ``(key, partition, record, changelog bytes)`` whose changelog records the broker acknowledged at
        ``acked`` (topic, partition → lowest offset, highest offset, records).

        A partition's checkpoint moves only when these offsets follow on from it without a gap. Otherwise
        another writer's records came first or in between, and the checkpoint stays (the next recovery replays
        from it). The rows of a partition this worker still processes are written all the same (they are its
        newest states); those of a partition it no longer processes (a run finished after the partition was
        lost) are left out: a standby recovery of that partition may already have written newer rows."""
        offsets = {}
        for (topic, part), (low, high, n) in acked.items():
            stored = self.file.offset(topic, part)
            if low == (-1 if stored is None else stored) + 1 and high - low + 1 == n:
                offsets[(topic, part)] = high
        keep = {part for _, part in offsets} | self.active
        kept = [row for row in rows if row[1] in keep]
        self.file.write(((k, p, raw) for k, p, _, raw in kept), offsets)
        for k, _, value, _ in kept:
            self._remember(k, value)
        for k, p, _, _ in rows:
            if p not in keep:
                self.cache.pop(k, None)

    def records(self) -> Iterator[tuple[bytes, Any]]:
        """Every key and state record of the active partitions (read from the file)."""
        for key, raw in self.file.items(self.active):
            yield key, self.cache[key] if key in self.cache else self.decode(raw)

    def _remember(self, key: bytes, value: Any) -> None:
        cache = self.cache
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > self.cache_keys:
            cache.popitem(last=False)

    # --- faust's store interface --------------------------------------------------------------------------
    def persisted_offset(self, tp: TP) -> int | None:
        return self.file.offset(tp.topic, tp.partition)

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        """Ignored: the offset is written with its rows (``write``, ``apply_changelog_batch``)."""

    async def need_active_standby_for(self, tp: TP) -> bool:
        return True

    def apply_changelog_batch(self, batch: Iterable[Any], to_key: Callable[[Any], Any],
                              to_value: Callable[[Any], Any]) -> None:  # fmt: skip
        """A recovery's records, in changelog order. Those at or before their partition's checkpoint are
        already in the file (a batch read again after a seek) and are skipped: a row never goes back to an
        older value."""
        rows: dict[bytes, tuple[bytes, int, bytes | None]] = {}
        offsets: dict[tuple[str, int], int] = {}
        stored: dict[tuple[str, int], int] = {}
        for event in batch:
            msg = event.message
            tp = (msg.topic, msg.partition)
            if tp not in stored:
                checkpoint = self.file.offset(*tp)
                stored[tp] = -1 if checkpoint is None else checkpoint
            if msg.offset <= max(stored[tp], offsets.get(tp, -1)):
                continue
            offsets[tp] = msg.offset
            if msg.key is None:
                log.warning("changelog record without a key skipped: %s[%d]@%d", msg.topic, msg.partition, msg.offset)
                continue
            rows[msg.key] = (msg.key, msg.partition, msg.value)
        if not offsets:
            return
        self.file.write(rows.values(), offsets)
        m.STATE_RECOVERED.labels(self.table_name).inc(len(rows))
        for key in rows:
            self.cache.pop(key, None)

    def reset_state(self) -> None:
        path = self.file.path
        self.file.close()
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
        self._file = None
        self.cache.clear()

    async def on_rebalance(self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP],
                           generation_id: int = 0) -> None:  # fmt: skip
        """Nothing is active until the recovery completes (faust calls ``on_recovery_completed`` before any
        agent may run again); the cache is emptied (another worker may have changed a partition meanwhile)."""
        self.cache.clear()
        self.active = set()

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        topic = self.table.changelog_topic.get_topic_name()
        self.active = {tp.partition for tp in active_tps if tp.topic == topic}

    async def backup_partition(self, tp: TP | int, flush: bool = True, purge: bool = False, keep: int = 1) -> None:
        """Not supported: the changelog is the backup."""

    def restore_backup(self, tp: TP | int, latest: bool = True, backup_id: int = 0) -> None:
        """Not supported: the changelog is the backup."""

    # --- the MutableMapping faust's table wraps -----------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError("the stir store is written by StateTable.write (after the changelog acknowledgements)")

    def __delitem__(self, key: Any) -> None:
        raise TypeError("the stir store is written by StateTable.write (after the changelog acknowledgements)")

    def __iter__(self) -> Iterator[Any]:
        for key, _ in self.file.items(self.active):
            yield key

    def __len__(self) -> int:
        return self.file.count(self.active)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and self.get(key) is not None

    def _clear(self) -> None:
        self.reset_state()

    async def on_stop(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
