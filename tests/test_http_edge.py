"""The HTTP edge of a real server is bounded: head size, head and body read time, idle time,
concurrency.

Each attack runs while another client asks `/health/live`, which must still answer.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from movie_collections.core.settings import Settings
from tests.processes import ServerProcess

pytestmark = pytest.mark.slow

BIG_HEADER_BYTES = 80 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("edge")
    environment = {
        "DATABASE_URL": f"sqlite:///{data_dir / 'edge.db'}",
        "DATA_DIR": str(data_dir),
        "HTTP_HEADER_READ_TIMEOUT": "1",
        "HTTP_BODY_READ_TIMEOUT": "3",
        "HTTP_KEEP_ALIVE_TIMEOUT": "1",
        "HTTP_MAX_CONCURRENT_REQUESTS": "2",
    }
    with ServerProcess(environment) as process:
        yield process


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def health_answers(server: ServerProcess) -> bool:
    return httpx.get(f"{server.url}/health/live", timeout=10).status_code == 200


def closed_by_server(sock: socket.socket) -> bool:
    """Reads (the rest of an answer) until the server closes the connection (True) or 30 s
    pass without a byte (False)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def stalled_posts(server: ServerProcess, count: int) -> list[socket.socket]:
    """Requests in flight whose bodies never come (1 byte of 100 sent)."""
    held = [connect(server) for _ in range(count)]
    for sock in held:
        sock.sendall(
            b"POST /register/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
    return held


def test_the_defaults_bound_the_edge() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert defaults.http_max_header_bytes <= 64 * 1024
    assert defaults.http_header_read_timeout <= 30
    assert defaults.http_body_read_timeout <= 120
    assert defaults.http_keep_alive_timeout <= 30
    # make bench drives 64 connections per worker: they must never meet the cap.
    assert 64 < defaults.http_max_concurrent_requests <= 4096


def test_an_80_mb_header_is_refused_before_it_is_read(server: ServerProcess) -> None:
    sent = 0
    refused = threading.Event()
    answer = b""

    def attack() -> None:
        nonlocal sent, answer
        with connect(server) as sock:
            chunk = b"a" * (1024 * 1024)
            try:
                sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
                while sent < BIG_HEADER_BYTES:
                    sock.sendall(chunk)
                    sent += len(chunk)
                sock.sendall(b"\r\n\r\n")
            except OSError:
                refused.set()
            try:
                answer = sock.recv(4096)
            except OSError:
                answer = b""

    attacker = threading.Thread(target=attack)
    attacker.start()
    assert health_answers(server)
    attacker.join(60)
    assert refused.is_set(), "the server read the whole 80 MB header"
    assert sent < BIG_HEADER_BYTES // 4
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
    assert health_answers(server)


def test_a_request_the_server_cannot_parse_is_a_400_problem(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n")  # no colon
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 400


def test_a_head_dripped_a_byte_at_a_time_is_cut_off(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\n")
        closed = False
        for _ in range(100):  # 100 bytes at 0.2 s: well past the 1 s header-read timeout
            try:
                sock.sendall(b"X")
            except OSError:
                closed = True
                break
            assert health_answers(server)
            time.sleep(0.2)
        assert closed, "a dripping client kept its connection"


def test_an_idle_keep_alive_connection_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert closed_by_server(sock)


def test_a_connection_that_never_sends_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        assert closed_by_server(sock)


def test_beyond_the_concurrency_cap_requests_get_503_problem_with_retry_after(
    server: ServerProcess,
) -> None:
    """Two requests held in flight (their bodies never come) fill the cap of 2. The liveness
    probe still answers: failing under load, it would have a busy process restarted."""
    held = stalled_posts(server, 2)
    try:
        refused = None
        for _ in range(200):
            response = httpx.get(f"{server.url}/openapi.json", timeout=10)
            if response.status_code != 200:
                refused = response
                break
            time.sleep(0.05)
        assert refused is not None, "the cap was never met"
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["status"] == 503
        assert health_answers(server)
    finally:
        for sock in held:
            sock.close()
    for _ in range(200):
        if health_answers(server):
            break
        time.sleep(0.05)
    assert health_answers(server)


def test_bodies_that_never_come_get_408_and_give_their_slots_back(server: ServerProcess) -> None:
    """Two requests whose bodies stall fill the cap of 2; the body-read timeout (3 s) answers
    them 408 and closes them, and the service answers everyone again."""
    held = stalled_posts(server, 2)
    try:
        for sock in held:
            answer = b""
            while b"\r\n\r\n" not in answer and (chunk := sock.recv(4096)):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
            assert closed_by_server(sock)
    finally:
        for sock in held:
            sock.close()
    assert health_answers(server)
