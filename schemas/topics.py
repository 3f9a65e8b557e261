"""Every topic of the pipeline, declared once: its name, its key, its contract, who writes it and who reads it.

Everything else is derived from this table: the Faust agents' inputs and outputs, the Debezium connector's
table list and key columns, the topics the warehouse reads, the topics created up front, the replay tool's
contract lookup and the tests' topic lists.

Names here are logical: a deployment adds ``STIR_TOPIC_PREFIX`` in front of every name, and CDC topics are
``<topic prefix><cdc prefix>.public.<table>`` (see ``Topology``). Components are named by what they are:
``ingest`` (the HTTP ingest API), ``debezium`` (the CDC connector), ``warehouse`` (ClickHouse), ``replay``,
``dispatcher`` (delivers scrape requests to the scraper), and each Faust agent by its own name (``posts``,
``profiles``, ``collections``, ``memberships``, ``hiring``, ``logins``, ``refresh``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.settings import CoreSettings

Kind = Literal["event", "cdc", "internal", "dlq"]
SOURCE_SCHEMA = "public"  # the OLTP schema Debezium captures
CDC_LOGICAL_PREFIX = f"cdc.{SOURCE_SCHEMA}."

AGENTS = ("posts", "profiles", "collections", "memberships", "hiring", "logins", "refresh")


@dataclass(frozen=True)
class Topic:
    name: str  # logical name; CDC topics: cdc.public.<table>
    key: str  # the field (or, for CDC, the column) whose value is the Kafka key
    kind: Kind
    writers: tuple[str, ...]
    readers: tuple[str, ...] = ()
    contract: str | None = None  # the Avro contract (schemas/avro/<contract>.avsc) its rows follow

    @property
    def table(self) -> str | None:
        """The source table of a CDC topic."""
        return self.name.removeprefix(CDC_LOGICAL_PREFIX) if self.kind == "cdc" else None

    @property
    def configs(self) -> dict[str, str]:
        """The topic's Kafka configs: what producers post (the replay source) and the dead letters are kept 30
        days, what the agents compute and pass between them 7 days; CDC topics are created by Connect
        (``topic.creation.*`` in the connector's config). Record timestamps are the producers' (arrival) times."""
        kept_days = 30 if "ingest" in self.writers or self.kind == "dlq" else 7
        return {"cleanup.policy": "delete", "retention.ms": str(kept_days * 86_400_000),
                "message.timestamp.type": "CreateTime"}  # fmt: skip


def _event(name: str, key: str, writers: tuple[str, ...], readers: tuple[str, ...] = ()) -> Topic:
    return Topic(name, key, "event", writers, readers, contract=name)


def _cdc(table: str, key: str, readers: tuple[str, ...] = ()) -> Topic:
    return Topic(CDC_LOGICAL_PREFIX + table, key, "cdc", ("debezium",), readers)


def _internal(name: str, key: str, writer: str, reader: str) -> Topic:
    return Topic(name, key, "internal", (writer,), (reader,))


WH = "warehouse"
TOPICS: tuple[Topic, ...] = (
    # what producers post to the ingest API
    _event("social.profile.snapshot", "profile_id", ("ingest",), ("profiles", WH)),
    _event("social.post.snapshot", "post_id", ("ingest",), ("posts", WH)),
    _event("social.scrape.status", "post_id", ("ingest",), ("posts", WH)),
    _event("social.profile.audience", "profile_id", ("ingest",), (WH,)),
    _event("social.profile.insight", "profile_id", ("ingest",), (WH,)),
    _event("activity.auth.attempt", "user_id", ("ingest",), ("logins", WH)),
    _event("activity.session.event", "session_id", ("ingest",), (WH,)),
    _event("activity.feature.use", "user_id", ("ingest",), (WH,)),
    _event("activity.api.call", "endpoint", ("ingest",), (WH,)),
    # the OLTP tables Debezium captures (key column: the entity whose changes must stay ordered)
    _cdc("profiles", "id", ("profiles",)),
    _cdc("posts", "id", ("posts",)),
    _cdc("collections", "id", ("collections",)),
    _cdc("collection_items", "collection_id", ("collections",)),
    _cdc("scrape_requests", "post_id", ("posts",)),
    _cdc("companies", "id", ("hiring",)),
    _cdc("job_positions", "id", ("hiring",)),
    _cdc("processes", "id", ("hiring",)),
    _cdc("interviews", "process_id", ("hiring",)),
    _cdc("outcomes", "process_id", ("hiring",)),
    _cdc("tenants", "id"),
    _cdc("users", "id"),
    # between agents (co-partitioned with their inputs)
    _internal("internal.post.by_profile", "profile_id", "posts", "profiles"),
    # the collection items of a post: the memberships agent joins them to the post's metrics, the posts agent keeps
    # them for the refresh scope
    Topic("internal.membership.by_post", "post_id", "internal", ("collections",), ("memberships", "posts")),
    _internal("internal.post.by_collection", "collection_id", "memberships", "collections"),
    # what the agents compute
    _event("metrics.profile.rolling", "profile_id", ("profiles",), (WH,)),
    _event("metrics.post.rolling", "post_id", ("profiles",), ("memberships", WH)),
    _event("metrics.collection.rolling", "collection_id", ("collections",), (WH,)),
    _event("status.scrape.post", "post_id", ("posts",), (WH,)),
    _event("social.scrape.request", "post_id", ("refresh",), ("dispatcher",)),
    _event("status.hiring.process", "process_id", ("hiring",), (WH,)),
    _event("dim.hiring.position", "position_id", ("hiring",), (WH,)),
    _event("dim.hiring.company", "company_id", ("hiring",), (WH,)),
    _event("status.account.security", "user_id", ("logins",), (WH,)),
    # dead letters: the original bytes, the reason and where they came from in the headers
    Topic("dlq.ingest", "key", "dlq", ("ingest",)),
    Topic("dlq.streams", "key", "dlq", AGENTS),
    Topic("dlq.late", "key", "dlq", AGENTS),  # events beyond the allowed lateness, as they were: replayable
    Topic("dlq.replay", "key", "dlq", ("replay",)),
    Topic("dlq.dispatch", "key", "dlq", ("dispatcher",)),  # scrape requests the scraper refused or that are malformed
)
BY_NAME: dict[str, Topic] = {t.name: t for t in TOPICS}
INGEST_TYPES: tuple[str, ...] = tuple(t.name for t in TOPICS if "ingest" in t.writers and t.kind == "event")


def topic(name: str) -> Topic:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no topic {name!r} is declared in schemas/topics.py") from None


def read_by(component: str) -> list[Topic]:
    return [t for t in TOPICS if component in t.readers]


def written_by(component: str) -> list[Topic]:
    return [t for t in TOPICS if component in t.writers]


def cdc_tables() -> dict[str, str]:
    """Every captured OLTP table and its key column (the connector's table list and ``message.key.columns``)."""
    return {t.table: t.key for t in TOPICS if t.table is not None}


class Topology:
    """The declared topics as one deployment names them (its topic prefix and CDC prefix)."""

    def __init__(self, core: CoreSettings) -> None:
        self.core = core
        self._logical = {self.name(t): t for t in TOPICS}

    def name(self, t: Topic | str) -> str:
        """The deployed name of a declared topic."""
        t = topic(t) if isinstance(t, str) else t
        if t.table is not None:
            return f"{self.core.cdc_topic_prefix}.{SOURCE_SCHEMA}.{t.table}"
        return self.core.topic(t.name)

    def names(self, topics: list[Topic] | tuple[Topic, ...] = TOPICS) -> list[str]:
        return [self.name(t) for t in topics]

    def configs(self, topics: list[Topic] | tuple[Topic, ...] = TOPICS) -> dict[str, dict[str, str]]:
        """Deployed name → Kafka configs of each declared topic (what ``ensure_topics`` creates them with)."""
        return {self.name(t): t.configs for t in topics}

    def resolve(self, deployed: str) -> Topic | None:
        """The declared topic a deployed name stands for, or None."""
        return self._logical.get(deployed)

    def inputs(self, components: tuple[str, ...]) -> list[str]:
        """The deployed names of every topic any of ``components`` reads."""
        return [self.name(t) for t in TOPICS if set(t.readers) & set(components)]

    def touched(self, components: tuple[str, ...]) -> list[str]:
        """The deployed names of every topic any of ``components`` reads or writes."""
        return [self.name(t) for t in TOPICS if set(t.readers + t.writers) & set(components)]


def contract_of_topic(deployed: str) -> str | None:
    """The contract name of a deployed topic name that may carry any prefix (``dev.social.post.snapshot``), or
    None for topics without one (CDC, internal, DLQ)."""
    for t in TOPICS:
        if t.contract is not None and (deployed == t.name or deployed.endswith("." + t.name)):
            return t.contract
    return None
