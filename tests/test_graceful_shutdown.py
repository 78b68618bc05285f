"""SIGTERM: stop accepting, finish what is in flight, then exit cleanly."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.processes import ServerProcess

pytestmark = pytest.mark.slow


def test_in_flight_request_completes_after_sigterm(tmp_path: Path) -> None:
    environment = {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"}
    server = ServerProcess(environment, workers=1)
    server.start()
    try:
        body = b'{"username": "graceful", "password": "' + PASSWORD.encode() + b'"}'
        connection = socket.create_connection(("127.0.0.1", server.port))
        connection.sendall(
            b"POST /register/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10]
        )
        time.sleep(0.5)  # the request is now in flight: headers read, body pending
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # New connections are refused while the in-flight request finishes.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/health/live", timeout=1)
        connection.sendall(body[10:])
        connection.settimeout(10)
        response = connection.recv(65536)
        connection.close()
        assert response.startswith(b"HTTP/1.1 201"), response[:200]
        # uvicorn re-raises the signal once shut down cleanly, so the status is -SIGTERM.
        assert server.process.wait(20) in (0, -signal.SIGTERM)
        assert "Traceback" not in server.output()
    finally:
        server.stop()
    # What was acknowledged is there after a restart.
    with ServerProcess(environment) as restarted:
        login = httpx.post(
            f"{restarted.url}/login/", json={"username": "graceful", "password": PASSWORD}
        )
        assert login.status_code == 200


def test_a_request_cut_off_by_the_graceful_timeout_is_a_503_problem(tmp_path: Path) -> None:
    environment = {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"}
    server = ServerProcess(environment, workers=1, extra_arguments=("--graceful-timeout", "1"))
    server.start()
    try:
        connection = socket.create_connection(("127.0.0.1", server.port))
        connection.sendall(  # a body that never comes: the request is in flight at the stop
            b"POST /register/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            b"\r\nContent-Length: 100\r\n\r\n{"
        )
        time.sleep(0.5)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        connection.settimeout(20)
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
        connection.close()
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), response[:200]
        assert b"content-type: application/problem+json" in head.lower()
        assert b"retry-after: 1" in head.lower()
        assert json.loads(body)["status"] == 503
        server.process.wait(20)
        assert "Traceback" not in server.output()
    finally:
        server.stop()
