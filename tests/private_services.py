"""Private PostgreSQL and Redis servers that a test may stop and restart (never the shared ones)."""

from __future__ import annotations

import errno
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.processes import free_port


def _postgres_bin(name: str) -> str:
    matches = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not matches:
        raise FileNotFoundError(f"PostgreSQL's {name} is not installed")
    return matches[-1]


def postgres_server_available() -> bool:
    try:
        _postgres_bin("postgres")
    except FileNotFoundError:
        return False
    return True


def _as_postgres_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; tests run as root on CI.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port, with trust auth for `postgres`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="mc-private-pg-"))
        self.data = self.directory / "data"
        self.process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        subprocess.run(
            _as_postgres_user(
                [_postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.process = subprocess.Popen(
            _as_postgres_user(
                [
                    _postgres_bin("postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(self.directory),
                    "-c",
                    "fsync=off",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [_postgres_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("private PostgreSQL did not start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server with `pg_ctl -m <mode>`: immediate cuts connections like a crash,
        fast ends sessions cleanly, smart waits until the clients let go of theirs."""
        if self.process is None:
            return
        subprocess.run(
            _as_postgres_user(
                [_postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-W", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        self.process.wait(60)
        self.process = None

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class SmallTmpfs:
    """A tmpfs of `size` mounted on a fresh folder (root only), to fill up and free again."""

    def __init__(self, size: str = "3m") -> None:
        self.path = Path(tempfile.mkdtemp(prefix="mc-tmpfs-"))
        self.size = size
        self.filler = self.path / "filler"

    @staticmethod
    def available() -> bool:
        return os.geteuid() == 0 and shutil.which("mount") is not None

    def __enter__(self) -> SmallTmpfs:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0700", "tmpfs", str(self.path)],
            check=True,
            capture_output=True,
        )
        return self

    def fill(self) -> int:
        """Write a file until the disk is full; the bytes written."""
        written = 0
        with open(self.filler, "ab", buffering=0) as handle:
            for chunk in (65536, 4096, 512, 1):
                try:
                    while True:
                        written += handle.write(b"\0" * chunk)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)
