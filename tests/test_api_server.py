"""The API under a real uvicorn, over real sockets: slow clients are cut off (headers and bodies
each have a read timeout), an error does not drop a kept-alive connection, and ``omnibroker
serve`` checks its settings and database before it accepts a connection."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from api.slow_clients import HeaderTimeoutH11Protocol
from benchmarks.resources import free_port
from core.settings import get_settings
from storage import session

KEY = "server-key-0123456789abcdef"
REPO = Path(__file__).resolve().parent.parent
OMNIBROKER = Path(sys.executable).with_name("omnibroker")


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[int]:
    """A uvicorn on loopback, as ``omnibroker serve`` runs it, with short read timeouts."""
    monkeypatch.delenv("OMNIBROKER_DATABASE_URL", raising=False)
    monkeypatch.setenv("OMNIBROKER_DATABASE_PATH", str(tmp_path / "server.db"))
    monkeypatch.setenv("OMNIBROKER_API_KEYS", KEY)
    monkeypatch.setenv("OMNIBROKER_HEADER_TIMEOUT_S", "0.5")
    monkeypatch.setenv("OMNIBROKER_BODY_TIMEOUT_S", "0.5")
    get_settings.cache_clear()
    session.dispose_all()
    config = uvicorn.Config(
        create_app(), host="127.0.0.1", port=0, http=HeaderTimeoutH11Protocol, log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join()
    get_settings.cache_clear()
    session.dispose_all()


def read_until_closed(connection: socket.socket) -> bytes:
    connection.settimeout(30)  # a guard against a hang, not a measure
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_client_too_slow_to_send_its_headers_gets_408_and_is_disconnected(server):
    with socket.create_connection(("127.0.0.1", server)) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: omnibroker\r\n")  # never ends
        answer = read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"header_timeout" in answer


def test_client_that_stalls_in_its_body_gets_408_and_is_disconnected(server):
    with socket.create_connection(("127.0.0.1", server)) as connection:
        connection.sendall(
            b"POST /v1/solve HTTP/1.1\r\nHost: omnibroker\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"locations": ['
        )
        answer = read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"body_timeout" in answer


def test_keep_alive_survives_refused_requests(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    connection.request("GET", "/healthz")
    assert connection.getresponse().read() == b'{"status":"ok"}'
    first_socket = connection.sock
    for method, path, body in [
        ("POST", "/v1/solve", b'{"locations": 5}'),  # 422
        ("POST", "/v1/solve", b"[" * 5000 + b"]" * 5000),  # 422
        ("GET", "/v1/snapshots/%C2%B2", None),  # 422
        ("GET", "/v1/brokering-runs/7", None),  # 404
        ("POST", "/v1/events", b"[]"),  # 401
    ]:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        assert 400 <= response.status < 500
        response.read()
        assert connection.sock is first_socket, f"connection dropped after {method} {path}"
    connection.request("GET", "/healthz")
    assert connection.getresponse().status == 200
    assert connection.sock is first_socket
    connection.close()


# --- omnibroker serve -------------------------------------------------------------------------


def serve(env: dict[str, str], tmp_path: Path, wait_for: str | None = None) -> tuple[int, str]:
    """Run ``omnibroker serve``; return its exit status and stderr. With ``wait_for``, the server
    is stopped once that text appears on stderr (it would otherwise run on)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OMNIBROKER_")}
    environment |= {"OMNIBROKER_DATABASE_PATH": str(tmp_path / "serve.db"), **env}
    process = subprocess.Popen(
        [str(OMNIBROKER), "serve", "--port", "0"],
        cwd=tmp_path,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    if wait_for is None:
        _, err = process.communicate(timeout=120)
        return process.returncode, err
    err = ""
    for line in process.stderr:
        err += line
        if wait_for in err:
            break
    process.terminate()
    process.wait(timeout=60)
    return process.returncode, err


def test_serve_with_a_short_api_key_exits_2_with_the_reason(tmp_path):
    status, err = serve({"OMNIBROKER_API_KEYS": "short"}, tmp_path)
    assert status == 2
    assert "OMNIBROKER_API_KEYS: 1 API key(s) shorter than 16 characters" in err
    assert "Traceback" not in err and "short" not in err.replace("shorter", "")


def test_serve_with_an_unsupported_database_exits_2_in_one_line(tmp_path):
    status, err = serve({"OMNIBROKER_DATABASE_URL": "mysql://u:secret@db/omni"}, tmp_path)
    assert status == 2
    assert err.strip().splitlines() == [
        "omnibroker: OMNIBROKER_DATABASE_URL: unsupported database 'mysql'; "
        "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    ]


def test_serve_with_an_unreachable_database_exits_2_in_one_line(tmp_path):
    port = free_port()
    url = f"postgresql+psycopg://omni:secret@127.0.0.1:{port}/omni"
    status, err = serve({"OMNIBROKER_DATABASE_URL": url}, tmp_path)
    assert status == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(
        f"omnibroker: database postgresql+psycopg://omni:***@127.0.0.1:{port}/omni:"
    )
    assert "secret" not in line


def test_serve_without_api_keys_warns_loudly_at_start(tmp_path):
    status, err = serve({}, tmp_path, wait_for="Uvicorn running")
    assert "WARNING: OMNIBROKER_API_KEYS is not set: every write" in err
    assert status != 2


def test_app_under_any_server_refuses_to_start_on_bad_settings(tmp_path, monkeypatch):
    """The app's start-up checks the settings itself (for servers other than `serve`): no
    request is ever answered, /healthz included, with settings it cannot use."""
    from fastapi.testclient import TestClient

    from core.settings import SettingsInvalid

    monkeypatch.setenv("OMNIBROKER_API_KEYS", "short")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsInvalid, match="OMNIBROKER_API_KEYS"), TestClient(create_app()):
            pass
    finally:
        get_settings.cache_clear()
