"""`stir replay`: dump Kafka topic ranges to files and replay them (backfills)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from connectors.replay.dump import dump, parse_bound
from connectors.replay.load import AlreadyLoaded, AlreadyRunning, LoadInterrupted, load
from connectors.replay.offsets import apply, plan
from connectors.replay.records import Jsonl
from schemas.console import fail, load_settings, out, progress_bar
from schemas.settings import CoreSettings

app = typer.Typer(help="Dump Kafka topic ranges to files and replay them (backfills).", no_args_is_help=True)


@app.command("dump")
def dump_cmd(
    topic: str = typer.Option(..., help="topic to read"),
    out_file: Path = typer.Option(..., "--out", help="file to write"),
    start: str = typer.Option("0", "--from", help="offset, ISO arrival time or 'now' (inclusive)"),
    end: str = typer.Option("now", "--to", help="offset, ISO arrival time or 'now' (exclusive)"),
    event_from: str = typer.Option(
        None, "--event-from", help="only rows whose event_time is at or after this ISO time"
    ),
    event_to: str = typer.Option(None, "--event-to", help="only rows whose event_time is before this ISO time"),
    partition: int = typer.Option(None, help="only this partition"),
    key: str = typer.Option(None, help="only records with this key"),
    header: str = typer.Option(None, help="only records with this header, NAME=VALUE (e.g. dlq.topic=<a topic>)"),
    fmt: str = typer.Option("avro", "--format", help="avro | jsonl (console tools: key<separator>value)"),
    separator: str = typer.Option("\t", "--key-separator", help="jsonl key separator (console default: tab)"),
    headers: bool = typer.Option(
        False,
        "--headers",
        help="jsonl: each line starts with the record's headers "
        "(the console tools' print.headers/parse.headers); Avro always keeps them",
    ),
) -> None:
    """Dump a topic range to an Avro container file (keys, values, headers, timestamps, partitions, offsets,
    the contract in the metadata) or to console-format lines."""

    if fmt not in ("avro", "jsonl"):
        raise fail("--format must be avro or jsonl", 2)
    try:
        bounds = parse_bound(start), parse_bound(end)
        events = [None if t is None else parse_bound(t) for t in (event_from, event_to)]
    except ValueError as e:
        raise fail(str(e), 2) from None
    if any(e is not None and not isinstance(e, datetime) for e in events):
        raise fail("--event-from and --event-to are ISO times, e.g. 2026-11-01T00:00:00Z", 2)
    event_bounds = [e if isinstance(e, datetime) else None for e in events]
    sep = separator.encode().decode("unicode_escape")
    wanted: tuple[str, bytes] | None = None
    if header is not None:
        name, eq, value = header.partition("=")
        if not eq or not name:
            raise fail("--header must be NAME=VALUE, e.g. dlq.topic=social.profile.snapshot", 2)
        wanted = (name, value.encode())
    with progress_bar() as bar:
        task = bar.add_task(f"dump {topic}", total=None)
        try:
            bootstrap = load_settings(CoreSettings).bootstrap
            r = dump(bootstrap, topic, out_file, *bounds, partition=partition, key=key, header=wanted, fmt=fmt,
                     jsonl=Jsonl(sep, headers), event_from=event_bounds[0], event_to=event_bounds[1],
                     on_total=lambda n: bar.update(task, total=n),
                     on_record=lambda n: bar.advance(task, n))  # fmt: skip
        except (ValueError, OSError) as e:
            raise fail(str(e)) from None
    rate = r.records / r.seconds if r.seconds else 0
    out.print(f"{r.records} records ({fmt}) from {topic} to {out_file} in {r.seconds:.2f}s ({rate:,.0f}/s); "
              f"ranges {', '.join(f'{p}:{s}-{e}' for p, (s, e) in sorted(r.ranges.items()))}")  # fmt: skip


@app.command("load")
def load_cmd(
    in_file: Path = typer.Option(..., "--in", exists=True, dir_okay=False, help="replay file (avro or jsonl)"),
    topic: str = typer.Option(..., help="topic to write"),
    rate: float = typer.Option(None, min=1, help="records per second (default: as fast as possible)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate only, produce nothing"),
    preserve_partitions: bool = typer.Option(False, "--preserve-partitions", help="write to the original partitions"),
    fmt: str = typer.Option("auto", "--format", help="auto | avro | jsonl"),
    separator: str = typer.Option("\t", "--key-separator", help="jsonl key separator"),
    headers: bool = typer.Option(False, "--headers", help="jsonl: each line starts with the record's headers"),
    dlq_topic: str = typer.Option(
        None, help="where records that break the contract go (default: dlq.replay under STIR_TOPIC_PREFIX)"
    ),
    restart: bool = typer.Option(False, "--restart", help="ignore the checkpoint and load from the start"),
    create: bool = typer.Option(False, "--create", help="create the topic if missing (the source's partitions)"),
) -> None:
    """Produce a replay file's records with their keys, headers and timestamps into an existing topic; invalid
    records go to the DLQ. A signal (Ctrl-C, SIGTERM) checkpoints; the same command resumes, and delivers each
    record exactly once even after a SIGKILL. A second load of the same file into the same topic is refused."""

    sep = separator.encode().decode("unicode_escape")
    core = load_settings(CoreSettings)
    dlq = dlq_topic or core.topic("dlq.replay")
    with progress_bar() as bar:
        task = bar.add_task(f"{'validate' if dry_run else 'load'} {in_file.name} → {topic}", total=None)
        try:
            r = load(core.bootstrap, in_file, topic, fmt=fmt, jsonl=Jsonl(sep, headers), rate=rate, dry_run=dry_run,
                     preserve_partitions=preserve_partitions, dlq_topic=dlq, restart=restart, create=create,
                     default_partitions=core.partitions, replication_factor=core.replication_factor,
                     on_record=lambda n: bar.advance(task, n))  # fmt: skip
        except LoadInterrupted as e:
            raise fail(str(e), 130) from None
        except AlreadyLoaded as e:
            raise fail(str(e), 3) from None
        except AlreadyRunning as e:
            raise fail(str(e), 4) from None
        except (ValueError, OSError, RuntimeError) as e:
            raise fail(str(e)) from None
    verb = "valid" if dry_run else "sent"
    out.print(f"{r.total} records read; {r.total - r.invalid - r.resumed_past if dry_run else r.sent} {verb}, "
              f"{r.invalid} invalid{'' if dry_run else f' (to {dlq})'}, {r.resumed_past} already delivered "
              f"before; {r.seconds:.2f}s")  # fmt: skip


@app.command("reset-offsets")
def reset_offsets(
    group: str = typer.Option(..., help="consumer group"),
    topic: str = typer.Option(..., help="topic"),
    to_time: str = typer.Option(..., "--to-time", help="ISO time: the first offset at or after it"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
) -> None:
    """Move a group's committed offsets on a topic to a time, to re-process from there."""

    at = parse_bound(to_time)
    if not isinstance(at, datetime):
        raise fail("--to-time must be an ISO time, e.g. 2026-11-01T00:00:00Z", 2)
    bootstrap = load_settings(CoreSettings).bootstrap
    try:
        moves = plan(bootstrap, group, topic, at)
    except (ValueError, RuntimeError) as e:
        raise fail(str(e)) from None
    table = Table("partition", "committed", "new offset")
    for p, cur, new in moves:
        table.add_row(str(p), "-" if cur is None else str(cur), str(new))
    out.print(table)
    if not yes and not typer.confirm(f"Reset {group} on {topic} to {at.isoformat()}?"):
        raise fail("aborted", 1)
    try:
        apply(bootstrap, group, topic, moves)
    except Exception as e:
        raise fail(str(e)) from None
    out.print(f"{group}: offsets of {topic} reset to {at.isoformat()}")
