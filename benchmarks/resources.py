"""Throwaway local resources that the benchmarks and the tests both start from: a free loopback
port for a server of their own, an emptied PostgreSQL database."""

from __future__ import annotations

import socket

from sqlalchemy import Engine, text

from storage.db import make_engine


def free_port() -> int:
    """A loopback port nothing listens on at the moment of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fresh_postgres(url: str) -> Engine:
    """An engine on the PostgreSQL database at ``url``, emptied first: every table, row and
    sequence of its ``public`` schema is dropped. Only for databases a test or a benchmark owns."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    return engine
