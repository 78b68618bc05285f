"""uvicorn's worker supervisor, made to give up loudly: when workers cannot be kept running
(a replacement fails to start, or workers keep dying), `serve` stops and exits non-zero with
the reason, so systemd or Kubernetes restarts it (uvicorn's own exits 0)."""

from __future__ import annotations

import logging
import time
from collections import deque
from socket import socket

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

logger = logging.getLogger("movie_collections.supervisor")

# Give up at this many failed starts, or more deaths than this, within the window.
FAILED_STARTS_LIMIT = 2
WORKER_DEATHS_LIMIT = 5
WORKER_DEATHS_WINDOW_SECONDS = 60.0


class WorkerSupervisor(Multiprocess):
    def __init__(self, config: Config, sockets: list[socket]) -> None:
        super().__init__(config, sockets)
        self.failure: str | None = None  # why it gave up
        self._deaths: deque[float] = deque()
        self._failed_starts: deque[float] = deque()

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung, or already gone
            process.join()
            if self.should_exit.is_set():
                return
            failed_start = process.exitcode == STARTUP_FAILURE
            how = "failed to start" if failed_start else f"died (exit status {process.exitcode})"
            deaths = _within_window(self._deaths)
            failed_starts = _within_window(self._failed_starts) if failed_start else 0
            if failed_starts >= FAILED_STARTS_LIMIT or deaths > WORKER_DEATHS_LIMIT:
                self.failure = (
                    f"worker [{process.pid}] {how}: {deaths} worker deaths ({failed_starts} "
                    f"failed starts) within {WORKER_DEATHS_WINDOW_SECONDS:.0f} s, the workers "
                    "cannot be kept running"
                )
                logger.error("%s; stopping the server", self.failure)
                self.should_exit.set()
                return
            logger.warning("worker [%s] %s; starting a replacement", process.pid, how)
            replacement = Process(self.config, self.sockets)
            replacement.start()
            self.processes[index] = replacement


def _within_window(moments: deque[float]) -> int:
    """Record one more event now; how many fall within the window."""
    now = time.monotonic()
    moments.append(now)
    while moments[0] < now - WORKER_DEATHS_WINDOW_SECONDS:
        moments.popleft()
    return len(moments)
