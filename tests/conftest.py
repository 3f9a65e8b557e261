"""Shared fixtures. Integration fixtures start the local stack once per test session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture
def uid() -> str:
    """A short unique suffix for topic, group, table and slot names of one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def stack() -> Iterator[object]:
    """The local stack: reuses running services, starts the missing ones, stops only those it started."""
    from deploy.local.settings import StackSettings
    from deploy.local.stack import down, up

    settings = StackSettings()
    started = up(settings)
    try:
        yield settings
    finally:
        if started:
            down(settings, only=started)


class Dsn(str):
    """A connection string that pytest's failure reports show without its password."""

    def __repr__(self) -> str:
        return "Dsn(" + " ".join(p for p in self.split() if not p.startswith("password=")) + " password=…)"


@pytest.fixture
def fresh_db(stack, uid):
    """A new, empty database on the stack's PostgreSQL; dropped afterwards. Yields its DSN."""
    import psycopg

    name = f"t_{uid}"
    with psycopg.connect(stack.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Dsn(stack.dsn(name))
    finally:
        with psycopg.connect(stack.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
