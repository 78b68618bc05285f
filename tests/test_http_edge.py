"""The HTTP edge of a real server is bounded: head size, head and body read time, idle time,
concurrency.

Each attack runs while another client asks `/health/live`, which must still answer.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from movie_collections.core.settings import Settings
from tests.conftest import PASSWORD, movie
from tests.movies.upstream import UPSTREAM_PASSWORD, UPSTREAM_USERNAME, MockUpstreamProcess
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
        "HTTP_WRITE_TIMEOUT": "6",
        "HTTP_MAX_CONCURRENT_REQUESTS": "2",
    }
    with ServerProcess(environment) as process:
        yield process


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def read_to_the_end(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


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


def test_requests_sent_back_to_back_are_each_held_to_the_head_limit(
    server: ServerProcess,
) -> None:
    """800 requests of 46 bytes in one write (37 KB, over the 32 KiB head limit together) are
    all answered; a head over the limit, or a malformed one, after complete requests is refused
    (431, 400) once they are answered: they were read whole, and may have been carried out."""
    request = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(request * 800)
        answer = b""
        while answer.count(b"HTTP/1.1 200 ") < 800 and (chunk := sock.recv(65536)):
            answer += chunk
    assert answer.count(b"HTTP/1.1 200 ") == 800
    assert b"HTTP/1.1 431 " not in answer
    post = b"POST /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n"
    chunked = b"POST /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"2710\r\n" + b"x" * 10_000 + b"\r\n0\r\n\r\n"
    malformed = b"GET /health/live HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"  # no colon
    cases = [
        (before, head_of(40_000), b"431")
        for before in (request, request * 2, post + b"x" * 5000, chunked)
    ]
    cases += [(request * 2, malformed, b"400"), (chunked + request * 500, malformed, b"400")]
    # Refused once its head is read: it never starts, and the answers before it still go out.
    gzip = b"POST /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n"
    cases += [(request * 2, gzip, b"400")]
    for before, after, refusal in cases:
        with connect(server) as sock:
            sock.sendall(before + after)
            answer = read_to_the_end(sock)
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
        assert statuses[-1] == refusal, answer[:200]
        assert len(statuses) == before.count(b" HTTP/1.1\r\n") + 1  # every request answered


def head_of(size: int) -> bytes:
    """A GET whose line and headers are `size` bytes, the blank line included."""
    start = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def test_a_head_is_held_to_the_limit_to_the_byte(server: ServerProcess) -> None:
    """Sent alone, or right after a request with a body of known length."""
    limit = Settings(_env_file=None).http_max_header_bytes  # type: ignore[call-arg]
    post = b"POST /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8000\r\n\r\n"
    for before in (b"", post + b"x" * 8000):
        for size, status in ((limit, b"200"), (limit + 1, b"431")):
            with connect(server) as sock:
                sock.sendall(before + head_of(size))
                answer = read_to_the_end(sock)
            assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)[-1] == status, (len(before), size)


def test_blank_lines_after_an_answer_do_not_hold_the_connection(server: ServerProcess) -> None:
    """They begin no request, yet stop the keep-alive timer: the head-read timeout (1 s)
    closes the connection."""
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"\r\n")
        assert closed_by_server(sock)


def test_requests_sent_back_to_back_are_read_no_faster_than_they_are_answered(
    tmp_path: Path,
) -> None:
    """20,000 requests in one burst: parsed all at once, they would wait as 20,000 request
    objects (hundreds of MB); read as they are answered, the server's peak memory barely moves."""
    environment = {"DATABASE_URL": f"sqlite:///{tmp_path / 'edge.db'}", "DATA_DIR": str(tmp_path)}
    request = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with ServerProcess(environment) as process, connect(process) as sock:
        status = Path(f"/proc/{process.process.pid}/status")
        before = peak_rss_kib(status)
        sender = threading.Thread(target=sock.sendall, args=(request * 20_000,))
        sender.start()
        answers = 0
        while answers < 20_000 and (chunk := sock.recv(1 << 20)):
            answers += chunk.count(b"HTTP/1.1 200 ")
        sender.join()
        assert answers == 20_000
        assert peak_rss_kib(status) - before < 20 * 1024


def peak_rss_kib(status: Path) -> int:
    line = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1])


def test_a_transfer_coding_besides_chunked_is_501(server: ServerProcess) -> None:
    """Read as plain chunked, a gzip body would be read one way here and another by a proxy."""
    with connect(server) as sock:
        sock.sendall(
            b"POST /register/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        )
        answer = read_to_the_end(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 501 ")
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 501


def test_clients_that_stop_reading_are_dropped_and_give_their_slots_back(
    server: ServerProcess,
) -> None:
    """Two connections ask for the OpenAPI document 50 times back to back and read nothing:
    their answers fill the server's buffers and hold the cap of 2. The write timeout (6 s)
    drops them, and the service answers everyone again while they still read nothing."""
    held = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
        sock.settimeout(30)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 50)
        held.append(sock)
    try:
        statuses = []
        for _ in range(60):
            statuses.append(httpx.get(f"{server.url}/openapi.json", timeout=10).status_code)
            if statuses[-1] == 503:
                break
            time.sleep(0.05)
        assert statuses[-1] == 503, "the cap was never met"
        served = False
        for _ in range(200):
            if httpx.get(f"{server.url}/openapi.json", timeout=10).status_code == 200:
                served = True
                break
            time.sleep(0.1)
        assert served, "clients that read nothing kept their slots"
        for sock in held:
            assert closed_by_server(sock)
    finally:
        for sock in held:
            sock.close()
    # The answer cut off was not the last request read: it is told the client left too.
    assert "Exception in ASGI application" not in server.output()


def test_a_client_that_reads_slowly_but_steadily_gets_all_of_a_large_answer(
    server: ServerProcess,
) -> None:
    """A 4.8 MB answer read slowly for 8 s, past the write timeout (6 s) with the server's
    buffer full all along, then at full speed: the client kept its connection, as it read."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        token = http.post("/register/", json={"username": "slow_reader", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        movies = [{**movie(n), "description": "x" * 9_900} for n in range(480)]
        created = http.post("/collection/", json={"title": "big", "movies": movies}, headers=auth)
        assert created.status_code == 201, created.text
        path = f"/collection/{created.json()['collection_uuid']}/"
        expected = len(http.get(path, headers=auth).content)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
    sock.settimeout(30)
    with sock:
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {auth['Authorization']}\r\n\r\n".encode()
        )
        answer = b""
        slow_until = time.monotonic() + 8
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < expected:
            chunk = sock.recv(8192)
            if not chunk:
                break
            answer += chunk
            if time.monotonic() < slow_until:
                time.sleep(0.02)
    assert len(answer.partition(b"\r\n\r\n")[2]) == expected


def test_a_body_that_waits_for_its_turn_is_not_timed_out(tmp_path: Path) -> None:
    """A POST sent right behind a slow GET /movies/ (3.5 s upstream), its body 0.3 s later:
    nothing more is read from the connection until the GET is answered, so the body waits
    unread past the body-read timeout (2 s). It is then read: the GET answered, then the POST."""
    upstream = MockUpstreamProcess().start()
    try:
        upstream.control(latency=3.5)
        environment = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'edge.db'}",
            "DATA_DIR": str(tmp_path),
            "HTTP_BODY_READ_TIMEOUT": "2",
            "MOVIES_API_URL": upstream.api_url,
            "MOVIES_API_USERNAME": UPSTREAM_USERNAME,
            "MOVIES_API_PASSWORD": UPSTREAM_PASSWORD,
        }
        with ServerProcess(environment) as process:
            registered = httpx.post(
                f"{process.url}/register/",
                json={"username": "in_turn", "password": PASSWORD},
                timeout=30,
            )
            auth = f"Authorization: Bearer {registered.json()['access_token']}\r\n"
            body = b'{"title": "behind a slow one"}'
            with connect(process) as sock:
                sock.sendall(
                    f"GET /movies/ HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n"
                    f"POST /collection/ HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
                    "Content-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                )
                time.sleep(0.3)
                sock.sendall(body)
                answer = b""
                while len(re.findall(rb"HTTP/1\.1 \d{3} ", answer)) < 2 and (
                    chunk := sock.recv(65536)
                ):
                    answer += chunk
        assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answer) == [b"200", b"201"], answer[:300]
    finally:
        upstream.stop()


def test_a_request_the_server_cannot_parse_is_a_400_problem(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n")  # no colon
        answer = read_to_the_end(sock)
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
