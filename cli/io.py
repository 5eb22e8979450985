"""Reading and writing JSON for the commands: fast, and bad input as a problem list, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from models.problems import InvalidInput, Problem

EXIT_BAD_INPUT = 2


def read_bytes(path: str, what: str) -> bytes:
    """The file's bytes, or ``-`` for stdin. Raises InvalidInput naming the file if unreadable."""
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(
            [Problem((), f"cannot read {path}: {exc.strerror}", "io_error")], what
        ) from None


def write_json(document: Any, out: str | None) -> None:
    """Indented JSON to ``out``, or to stdout when ``out`` is None or ``-``."""
    payload = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    if out is None or out == "-":
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
    else:
        Path(out).write_bytes(payload)


def report_invalid(error: InvalidInput) -> int:
    """Print a refusal's problem list on stderr; the exit status for bad input."""
    print(error.describe(), file=sys.stderr)
    return EXIT_BAD_INPUT
