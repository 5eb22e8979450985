"""The engine of a process, from its settings, with the schema brought up to date once."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from core.settings import Settings
from storage.db import make_engine
from storage.migrate import upgrade

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def engine_for(settings: Settings, migrate: bool = True) -> Engine:
    """One engine per database URL per process; on first use the migrations run (a no-op when
    the schema is current), so a new deployment needs no separate step."""
    url = settings.sqlalchemy_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url, settings.busy_timeout_s)
            if migrate:
                upgrade(engine)
            _engines[url] = engine
        return engine


def dispose_all() -> None:
    """Close every pooled connection (tests, and before a process forks)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
