"""A ClickHouse client for whatever the core settings point at: a server, or the embedded warehouse's endpoint."""

from __future__ import annotations

from typing import Any

from schemas.settings import CoreSettings


def connect(settings: CoreSettings, database: str | None = None, user: str | None = None,
            password: str | None = None) -> Any:  # fmt: skip
    """A clickhouse-connect client (as ``ch_user``, or ``user``); creates the database when it does not exist yet
    (an admin only)."""
    import clickhouse_connect

    kw: dict[str, Any] = {"dsn": settings.ch_http_url, "username": user or settings.ch_user,
                          "password": settings.ch_secret() if password is None else password, "compress": False,
                          "autogenerate_session_id": False, "tz_mode": "aware"}  # fmt: skip
    db = database or settings.ch_database
    if user is None:
        bootstrap = clickhouse_connect.get_client(**kw)
        bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        bootstrap.close()
    return clickhouse_connect.get_client(**kw, database=db)
