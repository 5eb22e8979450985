"""What the inventory commands share: the database option, the engine, refusals as exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import wraps

from sqlalchemy import Engine

from cli.io import EXIT_BAD_INPUT, report_invalid
from core.settings import Settings, get_settings
from models.problems import InvalidInput
from storage.session import engine_for


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        help="SQLite file or SQLAlchemy URL (default: OMNIBROKER_DATABASE_URL, else "
        "OMNIBROKER_DATABASE_PATH, else ./omnibroker.db)",
    )


def settings_of(args: argparse.Namespace) -> Settings:
    settings = get_settings()
    db = getattr(args, "db", None)
    if db:
        if "://" in db:
            return settings.model_copy(update={"database_url": db})
        return settings.model_copy(update={"database_url": None, "database_path": db})
    return settings


def engine_of(args: argparse.Namespace, migrate: bool = True) -> Engine:
    from pathlib import Path

    settings = settings_of(args)
    if settings.database_url is None:
        settings = settings.model_copy(update={"database_path": Path(settings.database_path)})
    return engine_for(settings, migrate=migrate)


def handles_bad_input(
    handler: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """Refusals become exit status 2 with the problem list on stderr (bad settings and an
    unusable database are caught once for every command, in :func:`cli.main.main`)."""

    @wraps(handler)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except InvalidInput as error:
            return report_invalid(error)
        except FileNotFoundError as error:
            print(f"no such file: {error.filename}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return wrapped
