"""Real server processes on free ports, for the tests that talk HTTP to them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

TEST_SECRET = "test-secret-key-0123456789abcdef0123456789abcdef"
# For load and fault tests where one user sends hundreds of requests a second, far past the
# per-user budgets (tested in tests/test_user_budgets.py); every other server keeps them.
NO_USER_BUDGETS = {
    "WRITES_PER_USER_PER_MINUTE": "0",
    "MOVIES_WRITTEN_PER_USER_PER_MINUTE": "0",
    "MOVIES_PER_USER_PER_MINUTE": "0",
    "MAX_COLLECTIONS_PER_USER": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_port_with_bus() -> int:
    """A free port whose cluster bus port (port + 10000) is a valid, free port too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 > 65535:
            port -= 30000  # ephemeral ports sit at 32768+; below them is usually unused
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def movie_collections_command() -> list[str]:
    return [sys.executable, "-m", "movie_collections"]


def command_environment(overrides: dict[str, str]) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            (
                "DATABASE_",
                "REDIS_",
                "SECRET_",
                "PREVIOUS_SECRET",
                "MOVIES_API",
                "COUNTER_",
                "AUTH_",
                "FORWARDED_",
            )
        )
    }
    environment.update(
        {
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "8",
            "PASSWORD_HASH_PARALLELISM": "1",
            "LOG_LEVEL": "WARNING",
            "AUTH_RATE_LIMIT_PER_USERNAME": "10000",
            "AUTH_RATE_LIMIT_PER_ADDRESS": "10000",
        }
    )
    environment.update(overrides)
    return environment


class ServerProcess:
    """`movie-collections serve` on a free port; waits until it answers, stops on exit."""

    def __init__(
        self,
        environment: dict[str, str],
        workers: int = 1,
        port: int | None = None,
        extra_arguments: tuple[str, ...] = (),
        cwd: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.environment = command_environment(environment)
        self.workers = workers
        self.extra_arguments = extra_arguments
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the server)

    def start(self) -> ServerProcess:
        self.process = subprocess.Popen(
            [
                *movie_collections_command(),
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                *self.extra_arguments,
            ],
            env=self.environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            start_new_session=True,
        )
        self.wait_until_ready()
        return self

    def wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                httpx.get(f"{self.url}/openapi.json", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def worker_pids(server: ServerProcess | int) -> list[int]:
    """The worker processes of a multi-worker `serve` (or of the process with this pid)."""
    if isinstance(server, ServerProcess):
        assert server.process is not None
        pid = server.process.pid
    else:
        pid = server
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    # uvicorn's supervisor also starts a resource tracker; workers are the ones serving.
    return [int(c) for c in children if "resource_tracker" not in _cmdline(int(c))]


async def replacement_of(server: ServerProcess, dead: int, limit_s: float = 60) -> list[int]:
    """The workers once the supervisor has reaped `dead` and started another in its place.

    uvicorn's supervisor looks at its workers twice a second and then starts a new one, which
    imports the app before it is listed: about a second here, but many on a slowed machine
    (seen: over 3 s while the host ran ~7x slower), so this waits for it, within a limit."""
    deadline = time.monotonic() + limit_s
    while True:
        workers = worker_pids(server)
        if (dead not in workers and len(workers) == server.workers) or time.monotonic() > deadline:
            return workers
        await asyncio.sleep(0.2)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


class PrivateRedis:
    """A redis-server of our own on a free port, for tests that kill it (never the shared one).

    Append-only with fsync on every write, so a SIGKILL followed by a restart on the same
    port and directory keeps what was acknowledged, like a durable production Redis.
    """

    def __init__(
        self, directory: Path, port: int | None = None, extra_arguments: tuple[str, ...] = ()
    ) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.extra_arguments = extra_arguments
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        import shutil

        executable = shutil.which("redis-server")
        if executable is None:
            raise FileNotFoundError("redis-server is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
                "--daemonize",
                "no",
                *self.extra_arguments,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("private redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class PrivateRedisCluster:
    """A Redis Cluster of our own: `masters` nodes (`redis-server --cluster-enabled yes`) on
    free ports in `directory`, joined by `redis-cli --cluster create`, no replicas."""

    def __init__(self, directory: Path, masters: int = 3) -> None:
        self.nodes = [
            PrivateRedis(
                directory / f"node{index}",
                port=_free_port_with_bus(),
                extra_arguments=("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
            )
            for index in range(masters)
        ]
        self.url = self.nodes[0].url

    def start(self) -> PrivateRedisCluster:
        import shutil

        cli = shutil.which("redis-cli")
        if cli is None:
            raise FileNotFoundError("redis-cli is not installed")
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [
                    cli,
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{node.port}" for node in self.nodes),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            deadline = time.monotonic() + 30
            while not all(self._state_ok(cli, node.port) for node in self.nodes):
                if time.monotonic() > deadline:
                    raise RuntimeError("the private Redis Cluster did not reach state ok")
                time.sleep(0.1)
        except BaseException:
            self.kill()
            raise
        return self

    @staticmethod
    def _state_ok(cli: str, port: int) -> bool:
        info = subprocess.run(
            [cli, "-p", str(port), "CLUSTER", "INFO"], capture_output=True, text=True, timeout=10
        ).stdout
        return "cluster_state:ok" in info

    def holder_of(self, key: str) -> tuple[int, bytes | None]:
        """The port of the master holding `key`, and its value there: the one node that
        answers GET instead of redirecting with MOVED."""
        import redis

        for node in self.nodes:
            client = redis.Redis(port=node.port, socket_timeout=5)
            try:
                value = client.get(key)
            except redis.exceptions.MovedError:
                continue
            finally:
                client.close()
            return node.port, value if isinstance(value, bytes) else None
        raise LookupError(f"no node holds {key}")

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()
