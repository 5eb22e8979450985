"""Progress of long work: a status line on a terminal, nothing extra when piped."""

from __future__ import annotations

import io
import os
import pty

from cli.progress import terminal_progress
from models.inventory import parse_feed_header
from storage.feeds import load_feed
from tests.ledger_fixtures import ledger

__all__ = ["ledger"]

HEADER = parse_feed_header({"source": "erp", "basis": "physical", "as_of": "2026-11-27T05:00:00Z"})
BODY = b"location_id,sku,quantity\nS-017,TEE,4\nS-042,TEE,2\n"


def test_long_work_shows_rows_read_and_applied_on_a_terminal(ledger):
    main_fd, terminal_fd = pty.openpty()
    with os.fdopen(terminal_fd, "w") as terminal, terminal_progress(terminal) as progress:
        assert progress is not None
        load_feed(ledger, io.BytesIO(BODY), "csv", HEADER, progress, name="erp.csv")
    shown = os.read(main_fd, 4096).decode()
    os.close(main_fd)
    assert "feed erp.csv: 2 rows read, 2 applied" in shown


def test_long_work_prints_nothing_extra_when_piped():
    piped = io.StringIO()  # not a terminal
    with terminal_progress(piped) as progress:
        assert progress is None
    assert piped.getvalue() == ""
