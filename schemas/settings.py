"""The settings every component shares: where state lives, where Kafka, PostgreSQL and Connect are, how topics
are named and partitioned.

Each component's own settings class extends ``CoreSettings``; the shared fields are read from the same
environment variables whatever the component (``STIR_STATE_DIR``, ``STIR_TOPIC_PREFIX``, ``STIR_PARTITIONS``,
``STIR_CDC_PREFIX``, ...), while a component's own fields carry its prefix (``STIR_STREAMS_*``,
``STIR_INGEST_*``, ...). So every stage agrees on the partition count and the names by construction.

A second pipeline beside the default one needs one variable, ``STIR_TOPIC_PREFIX`` (plus ports): consumer
groups, the Faust app id, the ClickHouse database, the serving schema and the CDC slot and publication are all
derived from it (``CoreSettings.scoped``) unless set explicitly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

NAME = r"^[a-zA-Z0-9_.-]*$"


def _shared(default: Any = ..., *, env: str, **kw: Any) -> Any:
    """A shared field: read from ``STIR_<ENV>`` by every component, whatever its own prefix."""
    return Field(default, validation_alias=f"STIR_{env}", **kw)


CH_READER_USER = "reader"  # the embedded warehouse's read-only user


class CoreSettings(BaseSettings):
    """Shared by every component. Subclasses set their own ``env_prefix`` for their own fields."""

    model_config = SettingsConfigDict(env_prefix="STIR_", extra="ignore")

    def __init__(self, **values: Any) -> None:
        """Keyword arguments by field name too (``StreamsSettings(topic_prefix="t.")``). Not through pydantic's
        ``populate_by_name``: that would also read a shared field from ``<component prefix><FIELD>`` (e.g.
        ``STIR_STREAMS_PARTITIONS``), a second variable for one setting."""
        fields = type(self).model_fields
        by_alias = {}
        for key, value in values.items():
            alias = fields[key].validation_alias if key in fields else None
            by_alias[alias if isinstance(alias, str) else key] = value
        super().__init__(**by_alias)

    state_dir: Path = _shared(Path(".stir"), env="STATE_DIR", description="data, logs, pid files and secrets")
    topic_prefix: str = _shared("", env="TOPIC_PREFIX", pattern=NAME, description="prepended to every topic name")
    partitions: int = _shared(4, env="PARTITIONS", ge=1, le=1000, description="partitions of every topic")
    cdc_prefix: str = _shared("cdc", env="CDC_PREFIX", pattern=r"^[a-zA-Z0-9_-]+$",
                              description="Debezium topic prefix (after the topic prefix)")  # fmt: skip
    replication_factor: int = _shared(1, env="REPLICATION_FACTOR", ge=1, le=16,
                                      description="replication factor of the topics the pipeline creates")  # fmt: skip

    bind_host: str = _shared("127.0.0.1", env="BIND_HOST", description="address local services bind to")
    kafka_port: int = _shared(19092, env="KAFKA_PORT", ge=1024, le=65535, description="local broker's port")
    kafka_bootstrap: str | None = _shared(None, env="KAFKA_BOOTSTRAP",
                                          description="external brokers (unset: the local broker)")  # fmt: skip
    pg_port: int = _shared(15432, env="PG_PORT", ge=1024, le=65535, description="local PostgreSQL's port")
    pg_superuser: str = _shared("stir", env="PG_SUPERUSER", description="local PostgreSQL's bootstrap role")
    pg_database: str = _shared("stir", env="PG_DATABASE", description="the OLTP database")
    pg_dsn: SecretStr | None = _shared(None, env="PG_DSN", description="external PostgreSQL (unset: the local one)")
    connect_port: int = _shared(18083, env="CONNECT_PORT", ge=1024, le=65535, description="local Connect's port")
    connect_url: str | None = _shared(None, env="CONNECT_URL", description="external Kafka Connect REST URL")
    connect_user: str = _shared("stir", env="CONNECT_USER", description="Kafka Connect REST user (basic auth)")
    connect_password: SecretStr = _shared(
        SecretStr(""), env="CONNECT_PASSWORD", description="Kafka Connect REST password (local: the secrets dir's)"
    )
    ch_url: str | None = _shared(None, env="CH_URL", description="a ClickHouse server's http(s) URL (unset: embedded)")
    ch_user: str = _shared("default", env="CH_USER", description="ClickHouse user")
    ch_password: SecretStr = _shared(SecretStr(""), env="CH_PASSWORD", description="ClickHouse password")
    ch_database: str = _shared("", env="CH_DATABASE", pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$",
                               description="database of the marts (default: stir, scoped)")  # fmt: skip
    ch_http_host: str = _shared("127.0.0.1", env="CH_HTTP_HOST", description="the embedded warehouse's address")
    ch_http_port: int = _shared(18123, env="CH_HTTP_PORT", ge=1024, le=65535,
                                description="the embedded warehouse's HTTP port")  # fmt: skip

    @model_validator(mode="after")
    def _scoped_database(self) -> CoreSettings:
        if not self.ch_database:
            self.ch_database = self.scoped("stir", "_")
        return self

    @field_validator("state_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    # --- paths: everything under the one state dir -------------------------------------------------
    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def pg_password_file(self) -> Path:
        return self.secrets_dir / "pg.password"

    @property
    def ch_password_file(self) -> Path:
        """The embedded warehouse's admin password (``ch_user``), written by the warehouse at its first start."""
        return self.secrets_dir / "ch.password"

    @property
    def ch_reader_password_file(self) -> Path:
        """The password of the embedded warehouse's read-only user ``CH_READER_USER`` (Grafana, readers)."""
        return self.secrets_dir / "ch-reader.password"

    def ch_secret(self) -> str:
        """The ClickHouse password: ``STIR_CH_PASSWORD``, else (embedded warehouse) the one in the secrets dir."""
        explicit = self.ch_password.get_secret_value()
        if explicit or self.ch_url:
            return explicit
        if not self.ch_password_file.exists():
            raise FileNotFoundError(f"no warehouse password at {self.ch_password_file}: start the warehouse first "
                                    "(`stir up` / `stir warehouse run`) or set STIR_CH_PASSWORD")  # fmt: skip
        return self.ch_password_file.read_text().strip()

    @property
    def connect_secrets_dir(self) -> Path:
        """The local Connect's own secrets (owned by the OS user that runs it): the only directory its
        FileConfigProvider may read."""
        return self.state_dir / "connect" / "secrets"

    @property
    def connect_secrets_file(self) -> Path:
        """Read by Kafka Connect's FileConfigProvider: ``${file:<path>:pg.password}``."""
        return self.connect_secrets_dir / "connect-secrets.properties"

    @property
    def connect_password_file(self) -> Path:
        """The local Connect's REST password (user ``connect_user``), written when Connect is prepared."""
        return self.secrets_dir / "connect-rest.password"

    def connect_auth(self) -> tuple[str, str] | None:
        """Basic-auth credentials for Connect's REST API: ``STIR_CONNECT_PASSWORD``, else (the local Connect)
        the one in the secrets dir; None for an external Connect without a password."""
        explicit = self.connect_password.get_secret_value()
        if explicit:
            return self.connect_user, explicit
        if self.connect_url or not self.connect_password_file.exists():
            return None
        return self.connect_user, self.connect_password_file.read_text().strip()

    # --- names ------------------------------------------------------------------------------------
    def topic(self, name: str) -> str:
        """The deployed name of a declared topic (see ``schemas.topics``)."""
        return self.topic_prefix + name

    @property
    def cdc_topic_prefix(self) -> str:
        """Debezium's ``topic.prefix``: CDC topics are ``<this>.public.<table>``."""
        return self.topic_prefix + self.cdc_prefix

    def scoped(self, name: str, sep: str = ".") -> str:
        """A consumer group, app id, database or schema name of this deployment: ``name`` itself without a
        topic prefix, else the prefix's letters, digits and ``_`` joined to it with ``sep``."""
        if not self.topic_prefix:
            return name
        ns = re.sub(r"[^a-zA-Z0-9_]+", "_", self.topic_prefix).strip("_").lower()
        return f"{ns}{sep}{name}"

    # --- endpoints --------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"{self.bind_host}:{self.kafka_port}"

    @property
    def connect_rest(self) -> str:
        return (self.connect_url or f"http://{self.bind_host}:{self.connect_port}").rstrip("/")

    @property
    def ch_http_url(self) -> str:
        """Where clients reach ClickHouse's HTTP interface: the server, or the embedded warehouse."""
        return self.ch_url or f"http://{self.ch_http_host}:{self.ch_http_port}"

    def pg_role_password_file(self, role: str) -> Path:
        """A component role's password (``schemas.roles``), generated when the local server is bootstrapped."""
        return self.secrets_dir / f"pg-{role}.password"

    def pg_password(self) -> str:
        if not self.pg_password_file.exists():
            raise FileNotFoundError(
                f"no PostgreSQL password at {self.pg_password_file}: run `stir up` first or set STIR_PG_DSN"
            )
        return self.pg_password_file.read_text().strip()

    def dsn(self, dbname: str | None = None, role: str | None = None) -> str:
        """A libpq connection string for the OLTP database (or ``dbname`` on the same server), as the bootstrap
        superuser or (local server) as a component ``role`` of ``schemas.roles``. An external server
        (``STIR_PG_DSN``) is reached as its DSN says: give each component a DSN with its own role there."""
        if self.pg_dsn is not None:
            if dbname is None:
                return self.pg_dsn.get_secret_value()
            from psycopg.conninfo import make_conninfo

            return make_conninfo(self.pg_dsn.get_secret_value(), dbname=dbname)
        if role is None:
            user, password = self.pg_superuser, self.pg_password()
        else:
            file = self.pg_role_password_file(role)
            if not file.exists():
                raise FileNotFoundError(f"no password of PostgreSQL role {role} at {file}: run `stir up` first")
            user, password = role, file.read_text().strip()
        db = dbname or self.pg_database
        return f"host={self.bind_host} port={self.pg_port} user={user} password={password} dbname={db}"


def settings_error(cls: type[BaseSettings], exc: Exception) -> str:
    """A pydantic ValidationError of a settings class as one line naming each bad environment variable."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    prefix = str(cls.model_config.get("env_prefix", ""))
    parts = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"]]
        # a shared field is named by its env var already (its alias); a component's own by field name
        shared = bool(loc) and loc[0].startswith("STIR_")
        name = "_".join(loc) if shared else prefix + "_".join(loc).upper()
        parts.append(f"{name}: {e['msg']}")
    return "bad configuration: " + "; ".join(parts)
