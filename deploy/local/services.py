"""The three local services: PostgreSQL, Apache Kafka (KRaft) and Kafka Connect with Debezium.

Each service knows how to prepare its state (initdb, storage format, config files), the command
that runs it in the foreground, how to stop it, and how to tell that it is ready.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import subprocess
import uuid
from functools import cached_property
from pathlib import Path

import httpx

from deploy.local.jars import kafka_classpath, plugin_path
from deploy.local.process import as_user
from deploy.local.service import (
    BASIC_AUTH,
    FALLBACK_ROOT,
    LOG4J2,
    Service,
    chown_to,
    give_tree,
    java,
    reachable_by,
    reclaim,
    require_reachable,
    share_secrets,
    write_config,
)
from deploy.local.settings import StackSettings, run_as_user
from schemas.secrets import ensure_secret, secure_dir, write_secret


class Postgres(Service):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: rolls back clients instead of waiting for them

    @property
    def port(self) -> int:
        return self.s.pg_port

    def ports(self) -> list[tuple[int, str]]:
        return [(self.s.pg_port, "STIR_PG_PORT")]

    @cached_property
    def data_dir(self) -> Path:
        """``<state dir>/postgres/data``; when the non-root OS user that runs PostgreSQL cannot reach it (a
        checkout under a private directory, e.g. ``mktemp -d``), a directory under /var/tmp named after the
        state dir, so every command of this checkout finds the same cluster."""
        preferred = self.s.state_dir / "postgres" / "data"
        user = self.user()
        if user is None or reachable_by(preferred, user):
            return preferred
        digest = hashlib.sha256(str(self.s.state_dir).encode()).hexdigest()[:12]
        return FALLBACK_ROOT / digest / "postgres" / "data"

    def user(self) -> str | None:
        return run_as_user(self.s)

    def _bin(self, tool: str) -> str:
        path = self.s.pg_bin_dir / tool
        if not path.exists():
            raise RuntimeError(f"{path} not found: run `make setup` (installs postgresql-15) or set STIR_PG_BIN_DIR")
        return str(path)

    def _chown(self, path: Path) -> None:
        chown_to(path, self.user())

    def prepare(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        user = self.user()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown(self.data_dir.parent)
        self._chown(self.data_dir)
        if user is not None:
            # the non-root user must reach the data dir through every parent directory
            probe = subprocess.run(["test", "-w", str(self.data_dir)], **as_user(user), capture_output=True)
            if probe.returncode != 0:
                raise RuntimeError(
                    f"OS user {user!r} cannot write {self.data_dir}: a parent directory is closed to it; "
                    "set STIR_STATE_DIR to a path it can reach (e.g. under /var/tmp)"
                )
        secure_dir(self.s.secrets_dir)
        password = secrets.token_urlsafe(24)
        pwfile = self.data_dir.parent / "initdb.pw"
        pwfile.unlink(missing_ok=True)
        with os.fdopen(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(password + "\n")  # 0600 from creation
        self._chown(pwfile)
        try:
            res = subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.s.pg_superuser,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                **as_user(user),
                capture_output=True,
                text=True,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed ({self.data_dir}): {res.stderr.strip()}")
        write_secret(self.s.pg_password_file, password + "\n")

    def argv(self) -> list[str]:
        conf = {
            "listen_addresses": self.s.bind_host,
            "port": str(self.s.pg_port),
            "unix_socket_directories": "",
            "wal_level": "logical",
            "max_replication_slots": "32",
            "max_wal_senders": "32",
            "max_slot_wal_keep_size": "4GB",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "synchronous_commit": "on",
            "fsync": "on",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        args = [self._bin("postgres"), "-D", str(self.data_dir)]
        for k, v in conf.items():
            args += ["-c", f"{k}={v}"]
        return args

    def healthy(self) -> bool:
        if self.s.pg_dsn is not None:  # external server
            import psycopg

            try:
                with psycopg.connect(self.s.pg_dsn.get_secret_value(), connect_timeout=2):
                    return True
            except psycopg.Error:
                return False
        res = subprocess.run(
            [self._bin("pg_isready"), "-q", "-h", self.s.bind_host, "-p", str(self.s.pg_port), "-t", "2"],
            capture_output=True,
        )
        return res.returncode == 0

    def ensure_database(self) -> None:
        """The OLTP database and the component roles (``schemas.roles``; passwords generated into the secrets
        dir), the database owned by ``stir_owner``."""
        import psycopg

        from schemas import roles

        with psycopg.connect(self.s.dsn("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.s.pg_database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.s.pg_database}"')
        passwords = {role: ensure_secret(self.s.pg_role_password_file(role)) for role in roles.ROLES}
        roles.bootstrap(self.s.dsn("postgres"), self.s.pg_database, passwords)


class Kafka(Service):
    name = "kafka"

    @property
    def port(self) -> int:
        return self.s.kafka_port

    def ports(self) -> list[tuple[int, str]]:
        return [(self.s.kafka_port, "STIR_KAFKA_PORT"), (self.s.kafka_controller_port, "STIR_KAFKA_CONTROLLER_PORT")]

    @property
    def home(self) -> Path:
        return self.s.state_dir / "kafka"

    def user(self) -> str | None:
        return run_as_user(self.s)

    def _properties(self) -> str:
        h, p, c = self.s.bind_host, self.s.kafka_port, self.s.kafka_controller_port
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{h}:{c}",
                f"listeners=PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}",
                f"advertised.listeners=PLAINTEXT://{h}:{p}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.home / 'data'}",
                "num.partitions=4",
                "auto.create.topics.enable=false",  # topics are created from their declarations (stir topics)
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=168",
                "log.segment.bytes=268435456",
                "",
            ]
        )

    def _java_args(self, main: str, *args: str) -> list[str]:
        return [
            java(),
            "-Xms256m",
            f"-Xmx{self.s.kafka_heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
            f"-Dstir.service={self.name}",
            "-cp",
            kafka_classpath(self.s.jar_dir),
            main,
            *args,
        ]

    def prepare(self) -> None:
        """Config files owned by root; the data dir (``log.dirs``) by the service user."""
        user = self.user()
        self.home.mkdir(parents=True, exist_ok=True)
        require_reachable(self.home, user)
        data = self.home / "data"
        reclaim(self.home, user, keep=data)
        write_config(self.home / "server.properties", self._properties())
        write_config(self.home / "log4j2.yaml", LOG4J2)
        data.mkdir(exist_ok=True)
        give_tree(data, user)
        if (data / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        res = subprocess.run(
            self._java_args(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.home / "server.properties")
            ),
            capture_output=True,
            text=True,
            **as_user(user),
        )
        if res.returncode != 0:
            raise RuntimeError(f"kafka storage format failed: {res.stdout[-2000:]}{res.stderr[-2000:]}")

    def argv(self) -> list[str]:
        return self._java_args("kafka.Kafka", str(self.home / "server.properties"))

    def healthy(self) -> bool:
        return broker_ready(self.s.bootstrap)


def broker_ready(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """A metadata request answered by a broker."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000, "log_level": 0})
    try:
        md = admin.list_topics(timeout=timeout_s)
    except Exception:
        return False
    return len(md.brokers) > 0


class Connect(Service):
    name = "connect"
    plugin_class = "io.debezium.connector.postgresql.PostgresConnector"

    @property
    def port(self) -> int:
        return self.s.connect_port

    def ports(self) -> list[tuple[int, str]]:
        return [(self.s.connect_port, "STIR_CONNECT_PORT")]

    @property
    def home(self) -> Path:
        return self.s.state_dir / "connect"

    def user(self) -> str | None:
        return run_as_user(self.s)

    @property
    def rest_users_file(self) -> Path:
        return self.s.connect_secrets_dir / "rest-users.properties"

    def _jaas(self) -> str:
        """The REST API's login: Kafka's property-file module over the users file (no secret in this file)."""
        return (
            f'KafkaConnect {{\n  {BASIC_AUTH}.PropertyFileLoginModule required\n  file="{self.rest_users_file}";\n}};\n'
        )

    def _properties(self) -> str:
        h = self.s.bind_host
        return "\n".join(
            [
                f"bootstrap.servers={self.s.bootstrap}",
                "group.id=stir-connect",
                "key.converter=org.apache.kafka.connect.storage.StringConverter",
                "value.converter=org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable=false",
                "config.storage.topic=_stir_connect_configs",
                "offset.storage.topic=_stir_connect_offsets",
                "status.storage.topic=_stir_connect_status",
                "config.storage.replication.factor=1",
                "offset.storage.replication.factor=1",
                "status.storage.replication.factor=1",
                "offset.storage.partitions=5",
                "status.storage.partitions=1",
                "offset.flush.interval.ms=1000",
                f"listeners=http://{h}:{self.s.connect_port}",
                f"rest.advertised.host.name={h}",
                f"rest.advertised.port={self.s.connect_port}",
                # every REST call needs the user and password of the users file (basic auth)
                f"rest.extension.classes={BASIC_AUTH}.BasicAuthSecurityRestExtension",
                f"plugin.path={plugin_path(self.s.jar_dir)}",
                "plugin.discovery=hybrid_warn",
                "config.providers=file",
                "config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider",
                # a connector config may read secrets from Connect's secrets dir only (${file:/etc/...} is refused)
                f"config.providers.file.param.allowed.paths={self.s.connect_secrets_dir}",
                "scheduled.rebalance.max.delay.ms=0",
                "",
            ]
        )

    def prepare(self) -> None:
        """Config files (root's), and Connect's secrets dir (root's, readable by the service user's group): the
        REST users file from the REST password (``STIR_CONNECT_PASSWORD``, else the stack's secrets dir), and the
        CDC role's PostgreSQL password for connector configs (``${file:...}``). Connect writes nothing here."""
        user = self.user()
        self.home.mkdir(parents=True, exist_ok=True)
        require_reachable(self.home, user)
        reclaim(self.home, user)
        write_config(self.home / "connect-distributed.properties", self._properties())
        write_config(self.home / "log4j2.yaml", LOG4J2)
        write_config(self.home / "rest-jaas.conf", self._jaas())
        password = self.s.connect_password.get_secret_value() or ensure_secret(self.s.connect_password_file)
        write_secret(self.rest_users_file, f"{self.s.connect_user}={password}\n")
        if self.s.pg_dsn is None:
            from schemas.roles import CDC

            cdc = self.s.pg_role_password_file(CDC)
            if cdc.exists():  # the connector's own role, never the superuser
                write_secret(self.s.connect_secrets_file, f"pg.password={cdc.read_text().strip()}\npg.user={CDC}\n")
            # where it was kept before (the superuser's password): Connect now reads the CDC role's only
            (self.s.secrets_dir / "connect-secrets.properties").unlink(missing_ok=True)
        share_secrets(self.s.connect_secrets_dir, user)

    def argv(self) -> list[str]:
        return [
            java(),
            "-Xms256m",
            f"-Xmx{self.s.connect_heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
            f"-Djava.security.auth.login.config={self.home / 'rest-jaas.conf'}",
            f"-Dstir.service={self.name}",
            "-cp",
            kafka_classpath(self.s.jar_dir),
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str(self.home / "connect-distributed.properties"),
        ]

    def healthy(self) -> bool:
        try:
            r = httpx.get(f"{self.s.connect_rest}/connector-plugins", timeout=2.0, auth=self.s.connect_auth())
        except httpx.HTTPError:
            return False
        return r.status_code == 200 and any(p.get("class") == self.plugin_class for p in r.json())


def all_services(settings: StackSettings) -> list[Service]:
    return [Postgres(settings), Kafka(settings), Connect(settings)]
