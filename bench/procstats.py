"""CPU time and resident memory of a server's whole process tree, read from /proc."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """The root and all its descendants (uvicorn's supervisor, its workers, their helpers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            continue
    return total


@dataclass(slots=True)
class Usage:
    cpu_percent: float  # 100 = one core busy for the whole interval
    peak_rss_mb: float
    cpu_seconds: float


class UsageSampler:
    """Samples the tree's RSS while a scenario runs and its CPU time at both ends."""

    def __init__(self, root: int, interval_s: float = 0.5) -> None:
        self.root = root
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pids: list[int] = []
        self._cpu_start = 0.0
        self._wall_start = 0.0

    def __enter__(self) -> UsageSampler:
        import time

        self._pids = tree(self.root)
        self._cpu_start = cpu_seconds(self._pids)
        self._wall_start = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, rss_bytes(self._pids))

    def __exit__(self, *_exc: object) -> None:
        import time

        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, rss_bytes(self._pids))
        self.wall_s = time.monotonic() - self._wall_start
        self.cpu_s = cpu_seconds(self._pids) - self._cpu_start

    @property
    def usage(self) -> Usage:
        return Usage(
            cpu_percent=100 * self.cpu_s / self.wall_s if self.wall_s else 0.0,
            peak_rss_mb=self._peak / 2**20,
            cpu_seconds=self.cpu_s,
        )
