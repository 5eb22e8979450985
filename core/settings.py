"""Settings of the service and the command line, from ``OMNIBROKER_*`` environment variables.

Secrets (the API keys) and the database location are never written in code: they come from the
environment of the process (or a ``.env`` file beside it). Settings validate themselves, so a
deployment with a malformed value fails at start, not on the first request.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SUPPORTED_DATABASES = ("sqlite", "postgresql")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIBROKER_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db. "
        "When unset, the SQLite file at database_path is used.",
    )
    database_path: Path = Field(default=Path("omnibroker.db"), description="The SQLite file.")
    busy_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="How long a writer waits for another to finish (a brokering run holds the "
        "ledger's write lock while the engine solves).",
    )
    # NoDecode: the variable is a comma-separated list ("key-a,key-b"), not JSON, so operators
    # can rotate keys by appending one without quoting.
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Keys accepted in the X-API-Key header; several allowed."
    )
    reads_open: bool = Field(default=True, description="GET endpoints answer without a key.")
    max_body_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, description="Largest request body accepted (413 above)."
    )
    feed_inbox: Path | None = Field(
        default=None,
        description="Directory the morning-run endpoint may read feed files from (by file name).",
    )
    run_time_limit_s: float = Field(
        default=60.0, gt=0, le=3600, description="Engine time limit of a brokering run."
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="A client must send a request's headers within this time (slow clients are "
        "cut off with 408, so they cannot hold connections open).",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Longest wait for the next part of a request body (408 after it).",
    )

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str | None) -> str | None:
        if not url:
            return None
        # imported here: the commands that need no database do not load SQLAlchemy
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            raise ValueError(
                "not a database URL; use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
            ) from None
        if backend not in SUPPORTED_DATABASES:
            raise ValueError(
                f"unsupported database {backend!r}; use sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST/DB"
            )
        return url

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys_are_long_enough(cls, keys: list[str]) -> list[str]:
        short = [key for key in keys if len(key) < 16]
        if short:
            raise ValueError(f"{len(short)} API key(s) shorter than 16 characters")
        return keys

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.database_path.expanduser().resolve()}"


class SettingsInvalid(ValueError):
    """Settings that cannot be used: one line per bad ``OMNIBROKER_*`` variable and why (never
    its value: it may be a secret)."""


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be used; one line: which database (its password hidden)
    and why."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once. Raises :class:`SettingsInvalid`."""
    try:
        return Settings()
    except ValidationError as error:
        lines = [
            f"OMNIBROKER_{str(item['loc'][0]).upper() if item['loc'] else '?'}: "
            + item["msg"].removeprefix("Value error, ")
            for item in error.errors(include_url=False)
        ]
        raise SettingsInvalid("\n".join(lines)) from None
