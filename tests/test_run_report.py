"""The run report: one self-contained HTML page per brokering run (KPIs, fill by priority,
unfilled units by reason, the flow map, the explanations), from the API and the command line,
checked as a real headless Chromium shows it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from cli.main import main
from core.settings import get_settings
from storage import session

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "inventory-example"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    """A ledger with the inventory walk-through's morning run: run 1, with an unfilled line."""
    path = str(tmp_path_factory.mktemp("report") / "run.db")
    for args in (
        ["catalog", "load", str(EXAMPLE / "catalog.json")],
        ["orders", "submit", str(EXAMPLE / "orders.json")],
        ["morning-run", "--feed", str(EXAMPLE / "erp-feed.csv"), "erp", "physical",
         "2026-11-27T05:00:00Z", "--feed", str(EXAMPLE / "sim-feed.json")],
    ):  # fmt: skip
        assert main([*args, "--db", path]) == 0
    return path


@pytest.fixture(scope="module")
def page(db, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "run.html"
    assert main(["runs", "report", "1", "-o", str(out), "--db", db]) == 0
    return out


def test_report_is_self_contained(page: Path) -> None:
    text = page.read_text()
    assert "<style>" in text
    assert not re.search(r"<link\b|<script\b", text)
    sources = re.findall(r'\bsrc="([^"]*)"', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'\bhref="(?!#)', text)


def test_report_shows_kpis_fill_reasons_map_and_explanations(page: Path) -> None:
    text = page.read_text()
    for heading in ("Fill by priority", "Unfilled units by reason", "Flow map",
                    "Why these locations", "Who took the units of unfilled lines"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in text
    # The walk-through's run: SO-1003 cannot split and misses its 8 units; SO-1001 took one.
    assert "cannot_split" in text
    assert "SO-1001 (p1, 1)" in text
    assert "Fill rate" in text and "66.7%" in text


def test_unknown_run_exits_2(db, capsys) -> None:
    assert main(["runs", "report", "99", "--db", db]) == 2
    assert "unknown brokering run 99" in capsys.readouterr().err


def test_broker_show_prints_the_allocations(db, capsys) -> None:
    assert main(["broker", "--show", "1", "--db", db]) == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert shown["id"] == 1
    assert sum(a["quantity"] for a in shown["result"]["allocations"]) == 16


@pytest.fixture
def client(db, monkeypatch) -> TestClient:
    monkeypatch.delenv("OMNIBROKER_DATABASE_URL", raising=False)
    monkeypatch.setenv("OMNIBROKER_DATABASE_PATH", db)
    get_settings.cache_clear()
    session.dispose_all()
    yield TestClient(create_app())
    get_settings.cache_clear()
    session.dispose_all()


def test_api_serves_the_report_as_html(client: TestClient, page: Path) -> None:
    response = client.get("/v1/brokering-runs/1/report")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Brokering run 1</h1>" in response.text


def test_api_report_of_an_unknown_run_is_404(client: TestClient) -> None:
    response = client.get("/v1/brokering-runs/99/report")
    assert response.status_code == 404
    assert response.json()["detail"][0]["type"] == "unknown_run"


@pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
)
def test_report_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    """Opened from a file with the network unused: every image decodes, every section shows,
    and the browser asked for nothing but the page itself."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            tab = browser.new_page(viewport={"width": 1200, "height": 900})
            tab.on("request", lambda request: requested.append(request.url))
            tab.goto(page.as_uri())
            tab.wait_for_load_state("load")
            images = tab.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            headings = tab.locator("h2").all_inner_texts()
            kpis_visible = tab.locator("#kpis .card").first.is_visible()
            shot = tmp_path / "run.png"
            tab.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requested == [page.as_uri()]
    assert [alt for alt, _, _ in images] == [
        "Fill by priority", "Unfilled units by reason", "Flows of run 1",
    ]  # fmt: skip
    assert all(complete and width > 300 for _, complete, width in images), images
    assert "Why these locations" in headings and kpis_visible
    assert shot.stat().st_size > 50_000  # a page with three charts, not a blank one
