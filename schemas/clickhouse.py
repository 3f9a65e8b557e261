"""A ClickHouse client for whatever the core settings point at: a server, or the embedded warehouse's endpoint."""

from __future__ import annotations

from typing import Any

from schemas.settings import CoreSettings


def connect(settings: CoreSettings, database: str | None = None) -> Any:
    """A clickhouse-connect client; creates the database when it does not exist yet."""
    import clickhouse_connect

    kw: dict[str, Any] = {"dsn": settings.ch_http_url, "username": settings.ch_user,
                          "password": settings.ch_password.get_secret_value(), "compress": False,
                          "autogenerate_session_id": False, "tz_mode": "aware"}  # fmt: skip
    db = database or settings.ch_database
    bootstrap = clickhouse_connect.get_client(**kw)
    bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    bootstrap.close()
    return clickhouse_connect.get_client(**kw, database=db)
