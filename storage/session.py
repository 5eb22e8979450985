"""The engine of a process, from its settings, with the schema brought up to date once."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from core.settings import DatabaseUnavailable, Settings
from storage.db import make_engine
from storage.migrate import upgrade

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def engine_for(settings: Settings, migrate: bool = True) -> Engine:
    """One engine per database URL per process; on first use the migrations run (a no-op when
    the schema is current), so a new deployment needs no separate step. Raises
    :class:`DatabaseUnavailable` when the database cannot be reached or its driver is missing."""
    url = settings.sqlalchemy_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            try:
                engine = make_engine(url, settings.busy_timeout_s)
                if migrate:
                    upgrade(engine)
            except (ArgumentError, NoSuchModuleError, ImportError, DBAPIError) as exc:
                raise DatabaseUnavailable(describe_failure(url, exc)) from None
            _engines[url] = engine
        return engine


def describe_failure(url: str, error: BaseException) -> str:
    """``database URL: reason``, on one line, without the password."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        shown = "(malformed URL)"
    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig
    if isinstance(error, ImportError):
        reason = f"its driver is not installed ({error.name or error})"
    else:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"database {shown}: {reason}"


def dispose_all() -> None:
    """Close every pooled connection (tests, and before a process forks)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
