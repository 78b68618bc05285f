"""SQLite's write lock, queued for in front of SQLite: the next writer is woken the moment it
is free instead of polling in SQLite's busy handler. In the process an asyncio lock; between
processes `flock` on a file next to the database (the kernel drops it when a process dies)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
from pathlib import Path

logger = logging.getLogger(__name__)


def lock_path(database: Path) -> Path:
    """The lock file: next to the database, like its -wal and -shm files."""
    return database.with_name(database.name + "-writelock")


class SqliteWriteLock:
    def __init__(self, database: Path, timeout_s: float) -> None:
        self._path = lock_path(database)
        self._timeout_s = timeout_s
        self._in_process: asyncio.Lock | None = None
        self._fd = -1
        self._fd_pid = -1
        # A wait for the file lock whose writer gave up: the next writer takes it over (a
        # second wait on the same descriptor would be granted with it, and undone with it).
        self._abandoned: asyncio.Future[None] | None = None

    def _file(self) -> int:
        """The lock file, opened by this process (a descriptor inherited over fork would share
        its lock with the parent's); -1 when it cannot be: then SQLite's busy timeout orders
        the processes."""
        if self._fd_pid != os.getpid():
            self._fd_pid = os.getpid()
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                logger.warning("no SQLite write lock file at %s", self._path, exc_info=True)
                self._fd = -1
        return self._fd

    async def acquire(self) -> None:
        """Wait for the lock; `sqlite3.OperationalError` after the busy timeout, as SQLite's."""
        if self._in_process is None:
            self._in_process = asyncio.Lock()
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._in_process.acquire()
        except TimeoutError as error:
            raise sqlite3.OperationalError("database is locked") from error
        try:
            await self._lock_file()
        except BaseException:
            self._in_process.release()
            raise

    async def _lock_file(self) -> None:
        fd = self._file()
        if fd < 0:
            return
        waiting, self._abandoned = self._abandoned, None
        if waiting is None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            # Another process writes: wait on a thread, so the event loop never blocks.
            waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
        try:
            await asyncio.wait_for(asyncio.shield(waiting), self._timeout_s)
        except (TimeoutError, asyncio.CancelledError) as error:
            self._abandoned = waiting
            waiting.add_done_callback(self._unlock_if_abandoned)
            if isinstance(error, TimeoutError):
                raise sqlite3.OperationalError("database is locked") from None
            raise

    def _unlock_if_abandoned(self, waiting: asyncio.Future[None]) -> None:
        """Taken with nobody to use it: let it go."""
        if self._abandoned is waiting:
            self._abandoned = None
            if not waiting.cancelled() and waiting.exception() is None:
                self._unlock_file()

    def _unlock_file(self) -> None:
        fd = self._file()
        if fd >= 0:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def release(self) -> None:
        self._unlock_file()
        if self._in_process is not None:
            self._in_process.release()

    def close(self) -> None:
        if self._fd_pid == os.getpid() and self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd, self._fd_pid = -1, -1
