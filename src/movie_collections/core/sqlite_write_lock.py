"""SQLite's write lock, queued for in front of SQLite: waiters are woken the moment it is free.

SQLite lets one connection write at a time. A connection that finds the lock taken does not
wait on it: its busy handler sleeps (1, 2, 5, 10 ... 100 ms) and tries again, so with two
worker processes writing, the loser sleeps milliseconds for a lock that is held for a fraction
of one, and sometimes misses it again. Every writer of the database file (the driver's writer
thread, the engine's write transactions, in every worker process) takes this lock first,
around BEGIN IMMEDIATE ... COMMIT; it is free whenever SQLite's is, so the BEGIN IMMEDIATE
behind it does not wait, and the next writer is woken by the kernel instead of a timer:

- in the process, a first-come first-served hand-off between threads, bounded by the busy
  timeout ("database is locked", a 503, as SQLite's own wait would be);
- between processes, `flock` on a file next to the database. The kernel releases it when its
  process dies, so a worker killed while writing cannot wedge the others.

It only orders writers who take it; SQLite's own lock stays what makes writes safe, and a
writer that does not take this lock (the sqlite3 shell, a migration) is waited for by the
busy timeout as before. The `flock` wait itself has no timeout: it is held only around one
write transaction, whose work is bounded by the busy timeout.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

logger = logging.getLogger(__name__)


def lock_path(database: Path) -> Path:
    """The lock file: next to the database, like its -wal and -shm files."""
    return database.with_name(database.name + "-writelock")


class _HandOffLock:
    """A lock handed to its waiters in the order they came (threading.Lock is not fair: a
    thread that releases and re-acquires at once could keep the others waiting)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout_s: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout_s):
            return True
        with self._mutex:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        return True  # handed over between the timeout and the mutex: ours after all

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._held:
                return False
            self._held = True
            return True

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # stays held: the next waiter owns it now
            else:
                self._held = False


class SqliteWriteLock:
    """One per process and database file; see the module's docstring."""

    def __init__(self, database: Path, timeout_s: float, waiter_threads: int = 4) -> None:
        self._path = lock_path(database)
        self._timeout_s = timeout_s
        self._in_process = _HandOffLock()
        self._fd = -1
        self._fd_pid = -1
        self._fd_lock = threading.Lock()
        self._waiters: ThreadPoolExecutor | None = None
        self._waiter_threads = waiter_threads

    def _file(self) -> int:
        """The lock file, opened by this process (a descriptor inherited over fork would share
        its lock with the parent's); -1 when it cannot be (a read-only directory): then only
        the threads of this process queue, and SQLite's busy timeout orders the processes."""
        with self._fd_lock:
            if self._fd_pid != os.getpid():
                self._fd_pid = os.getpid()
                try:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                except OSError:
                    logger.warning("no SQLite write lock file at %s", self._path, exc_info=True)
                    self._fd = -1
            return self._fd

    def _flock(self, operation: int) -> None:
        fd = self._file()
        if fd >= 0:
            fcntl.flock(fd, operation)

    def acquire(self) -> None:
        """Wait for the lock (a thread's call: it blocks)."""
        if not self._in_process.acquire(self._timeout_s):
            raise sqlite3.OperationalError("database is locked")
        try:
            self._flock(fcntl.LOCK_EX)
        except BaseException:
            self._in_process.release()
            raise

    def try_acquire(self) -> bool:
        """The lock if it is free right now, without waiting (fine on the event loop)."""
        if not self._in_process.try_acquire():
            return False
        try:
            self._flock(fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._in_process.release()
            return False
        except BaseException:
            self._in_process.release()
            raise
        return True

    def release(self) -> None:
        self._flock(fcntl.LOCK_UN)
        self._in_process.release()

    async def acquire_async(self) -> None:
        """The lock for a coroutine: taken at once when free, else waited for on a thread so
        that the event loop never blocks."""
        if not self.try_acquire():
            await self._wait_on_thread()

    async def _wait_on_thread(self) -> None:
        if self._waiters is None:
            self._waiters = ThreadPoolExecutor(self._waiter_threads, "sqlite-write-lock")
        waiting = self._waiters.submit(self.acquire)
        try:
            await asyncio.shield(asyncio.wrap_future(waiting))
        except asyncio.CancelledError:
            # The caller is gone: if the thread already waits, let the lock go when it comes.
            if not waiting.cancel():
                waiting.add_done_callback(self._release_if_acquired)
            raise

    def _release_if_acquired(self, waiting: Future[None]) -> None:
        if not waiting.cancelled() and waiting.exception() is None:
            self.release()

    def close(self) -> None:
        if self._waiters is not None:
            self._waiters.shutdown(wait=True)
            self._waiters = None
        with self._fd_lock:
            if self._fd_pid == os.getpid() and self._fd >= 0:
                os.close(self._fd)
            self._fd, self._fd_pid = -1, -1
