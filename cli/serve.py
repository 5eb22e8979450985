"""``omnibroker serve``: the HTTP API under uvicorn.

Before a connection is accepted: the settings are validated (a bad one stops here, exit 2, with
the reason), the database is reached and migrated (one line if it cannot be), and a service with
no API keys says loudly that every write will be refused. Slow clients are cut off: headers must
arrive within ``OMNIBROKER_HEADER_TIMEOUT_S`` (uvicorn has no such limit of its own, see
:mod:`api.slow_clients`), and a body that stalls longer than ``OMNIBROKER_BODY_TIMEOUT_S`` gets a
408 (:class:`api.security.BodyGuardMiddleware`).
"""

from __future__ import annotations

import argparse
import sys

from core.settings import get_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the HTTP API (uvicorn)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.slow_clients import HeaderTimeoutH11Protocol
    from storage.session import dispose_all, engine_for

    settings = get_settings()  # SettingsInvalid: exit 2 with the reason (cli.main)
    engine_for(settings)  # DatabaseUnavailable: exit 2, one line; else the schema is current
    dispose_all()  # no pooled connection is carried into the server (or its worker processes)
    if not settings.api_keys:
        print(
            "WARNING: OMNIBROKER_API_KEYS is not set: every write (catalog, feeds, events, "
            "orders, runs) will be refused with 401. Set one or more keys of 16+ characters.",
            file=sys.stderr,
        )
    uvicorn.run(
        "api.app:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=HeaderTimeoutH11Protocol,
        timeout_keep_alive=5,
    )
    return 0
