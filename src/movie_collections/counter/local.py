"""The embedded request counter: one memory-mapped 8-byte file per worker process, summed on
read. Counting is one aligned 64-bit store to memory; a dead worker's file (its `flock` is
free) is folded into `state.json`; a reset records the baseline. A full disk is a state: a
worker that cannot allocate its file counts in memory and reads answer 503 until it can.
Files, locks and why the count is exact: docs/request-counter.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import mmap
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from movie_collections.core.private_paths import make_private_directory, open_private_file
from movie_collections.counter.backend import CounterUnavailable

logger = logging.getLogger(__name__)

VALUE_BYTES = 8
COUNT_PREFIX = "worker-"
COUNT_SUFFIX = ".count"
STATE_FILE = "state.json"
LOCK_FILE = "lock"
# A worker whose file could not be allocated tries again this often.
ALLOCATE_RETRY_SECONDS = 1.0
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class StoreFull(CounterUnavailable):
    """The disk holding the counter files is full: the count cannot be stored or told."""


def _is_no_space(error: OSError) -> bool:
    return error.errno in _NO_SPACE


def _allocate(descriptor: int, value: int = 0) -> None:
    """Give the file its 8 bytes, with `value`, on disk blocks of its own: a full disk fails
    here (ENOSPC), never later as a SIGBUS on a store to an unbacked page of the mapping."""
    os.pwrite(descriptor, value.to_bytes(VALUE_BYTES, "little", signed=True), 0)
    os.posix_fallocate(descriptor, 0, VALUE_BYTES)


class _MappedCount:
    """One counter file mapped into memory, read and written as an aligned int64."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.descriptor = os.open(path, os.O_RDWR)
        try:
            if os.fstat(self.descriptor).st_size < VALUE_BYTES:
                # A live worker that could not allocate it counts in memory (disk full).
                raise StoreFull(f"{path.name} is not allocated: its worker counts in memory")
            self.mapping = mmap.mmap(self.descriptor, VALUE_BYTES, mmap.MAP_SHARED)
        except BaseException:
            os.close(self.descriptor)
            raise
        self.cell = ctypes.c_int64.from_buffer(self.mapping)

    @property
    def value(self) -> int:
        return int(self.cell.value)

    def close(self) -> None:
        del self.cell  # the buffer export must be released before the mapping can close
        self.mapping.close()
        os.close(self.descriptor)


class LocalFileCounter:
    """Exact across worker processes on one host; survives restarts. See the module docstring."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._own: _MappedCount | None = None
        # Disk full at start: the locked, empty file that says so, the requests counted in
        # memory meanwhile, and when to try allocating again.
        self._unallocated: int | None = None
        self._unallocated_path = directory
        self._in_memory = 0
        self._allocator: asyncio.Task[None] | None = None
        # Used only on the event loop (see _total_if_unlocked): its own lock descriptor and
        # the mappings of other workers' files, kept open between reads.
        self._reader_lock: int | None = None
        self._peers: dict[str, _MappedCount] = {}  # by file name
        self._state_path = str(directory / STATE_FILE)

    async def start(self) -> None:
        await asyncio.to_thread(self._start)
        if self._unallocated is not None:
            self._allocator = asyncio.create_task(self._allocate_when_possible())

    async def _allocate_when_possible(self) -> None:
        while self._unallocated is not None:
            await asyncio.sleep(ALLOCATE_RETRY_SECONDS)
            self._try_allocate()

    async def stop(self) -> None:
        if self._allocator is not None:
            self._allocator.cancel()
            self._allocator = None
        for peer in self._peers.values():
            peer.close()
        self._peers.clear()
        if self._reader_lock is not None:
            os.close(self._reader_lock)
            self._reader_lock = None
        self._try_allocate()
        if self._unallocated is not None:
            if self._in_memory:
                logger.error(
                    "request counter: %d requests counted in memory are lost (disk full)",
                    self._in_memory,
                )
            os.close(self._unallocated)  # an empty dead file: deleted at the next start
            self._unallocated = None
        own, self._own = self._own, None
        if own is None:
            return
        own.mapping.flush()
        # Closing the descriptor drops our flock: the file is now a dead worker's file, kept
        # (with its count) until the next worker to start folds it into `retired`.
        own.close()

    def increment(self) -> None:
        own = self._own
        if own is not None:  # before start / after stop: nothing to count into
            own.cell.value += 1
        elif self._unallocated is not None:
            self._in_memory += 1

    async def total(self) -> int:
        try:
            value = self._total_if_unlocked()
            if value is not None:
                return value
            return await asyncio.to_thread(self._total)
        except OSError as error:
            raise _unavailable(error) from error

    async def reset(self) -> None:
        try:
            await asyncio.to_thread(self._reset)
        except OSError as error:
            raise _unavailable(error) from error

    def _try_allocate(self) -> None:
        """A worker counting in memory (disk full at its start): give its file its 8 bytes,
        holding the count so far; on the event loop, so no increment comes in between."""
        if self._unallocated is None:
            return
        descriptor = self._unallocated
        try:
            _allocate(descriptor, self._in_memory)
            own = _MappedCount(self._unallocated_path)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, 0)  # still unallocated: readers answer 503
            return
        os.close(own.descriptor)  # keep the locked descriptor, as _start does
        own.descriptor = descriptor
        self._own, self._unallocated, self._in_memory = own, None, 0
        logger.warning("request counter: disk space is back, counting in the file again")

    # --- blocking parts, run in a thread -------------------------------------------------

    def _start(self) -> None:
        make_private_directory(self.directory)
        name = f"{COUNT_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        # Created and locked under a name readers ignore, then renamed: compaction can never
        # mistake a file that is being born for a dead worker's.
        temporary = self.directory / f".{name}.new"
        path = self.directory / f"{name}{COUNT_SUFFIX}"
        descriptor = open_private_file(temporary, os.O_RDWR | os.O_EXCL)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                _allocate(descriptor)
            except OSError as error:
                if not _is_no_space(error):
                    raise
                os.ftruncate(descriptor, 0)
                self._unallocated = descriptor  # live and empty: reads answer 503
                self._unallocated_path = path
                logger.error(
                    "request counter: disk full, this worker counts in memory until it can "
                    "allocate %s (reads and resets answer 503 meanwhile)",
                    path,
                )
            os.replace(temporary, path)
            if self._unallocated is None:
                own = _MappedCount(path)
        except BaseException:
            self._unallocated = None
            os.close(descriptor)
            temporary.unlink(missing_ok=True)
            raise
        if self._unallocated is None:
            # The lock lives on the open file description; keep `descriptor` open for our
            # life by handing it to the mapping holder in place of the one it opened.
            os.close(own.descriptor)
            own.descriptor = descriptor
            self._own = own
        try:
            self._compact()
        except OSError as error:  # a full disk: dead files stay, and count, until next time
            if not _is_no_space(error):
                raise
            logger.warning("request counter: could not compact its files (%s)", error)

    def _compact(self) -> None:
        """Fold the files of dead workers into `retired`, then delete them."""
        with self._locked(fcntl.LOCK_EX):
            state = self._read_state()
            folded: set[str] = set(state["folded"])
            retired: int = state["retired"]
            newly_folded: list[str] = []
            own = self._own_name()
            for name in self._count_names():
                if name in folded or name == own:
                    continue
                value = _value_if_dead(self.directory / name)
                if value == 0:  # counted nothing (or died before it could): just delete it
                    (self.directory / name).unlink(missing_ok=True)
                elif value is not None:
                    retired += value
                    newly_folded.append(name)
            # Left by a writer that died (every state write holds this lock).
            for path in self.directory.glob(f".{STATE_FILE}.*"):
                path.unlink(missing_ok=True)
            if newly_folded:
                state["retired"] = retired
                state["folded"] = sorted(folded | set(newly_folded))
                self._write_state(state)
            # Only after `retired` includes them on disk are the files deleted; `folded`
            # remembers them until they are gone, so a crash in between loses nothing and
            # counts nothing twice.
            remaining = []
            for name in sorted(folded | set(newly_folded)):
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / name).unlink()
                if (self.directory / name).exists():
                    remaining.append(name)
            if state["folded"] != remaining:
                state["folded"] = remaining
                self._write_state(state)
            # A worker that died between creating and renaming its file never counted.
            for path in self.directory.glob(".worker-*.new"):
                if _value_if_dead(path) is not None:
                    path.unlink(missing_ok=True)

    def _raw_total(self, state: dict[str, Any], read: Callable[[str], int] | None = None) -> int:
        """`retired` plus every live count file's value; `read` reads a file by its name."""
        if self._unallocated is not None:
            raise StoreFull("disk full: this worker counts in memory")
        folded = set(state["folded"])
        raw: int = state["retired"]
        own = self._own_name()
        for name in self._count_names():
            if name in folded:
                continue
            if name == own and self._own is not None:
                raw += self._own.value
                continue
            with contextlib.suppress(FileNotFoundError):
                raw += read(name) if read else _read_value(self.directory / name)
        return raw

    def _total(self) -> int:
        with self._locked(fcntl.LOCK_SH):
            state = self._read_state()
            return self._raw_total(state) - int(state["baseline"])

    def _total_if_unlocked(self) -> int | None:
        """_total on the event loop, or None when the lock is held exclusively (a reset or a
        compaction is running) and the read has to wait for it on a thread."""
        if self._reader_lock is None:
            self._reader_lock = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._reader_lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        try:
            state = self._read_state()
            seen: set[str] = set()
            total = self._raw_total(state, lambda name: self._peer_value(name, seen))
            for name in self._peers.keys() - seen:  # files deleted since: let them go
                self._peers.pop(name).close()
            return total - int(state["baseline"])
        finally:
            fcntl.flock(self._reader_lock, fcntl.LOCK_UN)

    def _peer_value(self, name: str, seen: set[str]) -> int:
        peer = self._peers.get(name)
        if peer is None:
            peer = self._peers[name] = _MappedCount(self.directory / name)
        seen.add(name)
        return peer.value

    def _reset(self) -> None:
        # Each worker's file is read once: an increment stored before that read is inside the
        # baseline, one stored after it counts after the reset; none is on both sides.
        with self._locked(fcntl.LOCK_EX):
            state = self._read_state()
            state["baseline"] = self._raw_total(state)
            self._write_state(state)

    @contextlib.contextmanager
    def _locked(self, operation: int) -> Iterator[None]:
        descriptor = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, operation)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def _count_names(self) -> list[str]:
        """The names of the workers' count files (`worker-*.count`), sorted. Names, not
        Paths, and a plain listdir: this runs on every read, on the event loop."""
        return sorted(
            name
            for name in os.listdir(self.directory)
            if name.startswith(COUNT_PREFIX) and name.endswith(COUNT_SUFFIX)
        )

    def _own_name(self) -> str | None:
        return self._own.path.name if self._own is not None else None

    def _read_state(self) -> dict[str, Any]:
        try:
            with open(self._state_path, "rb") as handle:
                loaded = json.loads(handle.read())
        except FileNotFoundError:
            loaded = {}
        return {
            "retired": int(loaded.get("retired", 0)),
            "baseline": int(loaded.get("baseline", 0)),
            "folded": [str(name) for name in loaded.get("folded", [])],
        }

    def _write_state(self, state: dict[str, Any]) -> None:
        temporary = self.directory / f".{STATE_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            with os.fdopen(open_private_file(temporary, os.O_WRONLY | os.O_EXCL), "w") as handle:
                json.dump(state, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.directory / STATE_FILE)
        except BaseException:
            temporary.unlink(missing_ok=True)  # a full disk leaves no half-written state
            raise


def _unavailable(error: OSError) -> CounterUnavailable:
    if _is_no_space(error):
        return StoreFull(f"the counter's disk is full ({error})")
    return CounterUnavailable(f"the counter's files cannot be read or written ({error})")


def _read_value(path: Path) -> int:
    mapped = _MappedCount(path)
    try:
        return mapped.value
    finally:
        mapped.close()


def _value_if_dead(path: Path) -> int | None:
    """The file's count if no live process holds its lock, else None."""
    try:
        descriptor = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if os.fstat(descriptor).st_size < VALUE_BYTES:
            return 0  # died before sizing its file: it never counted anything
        return _read_value(path)
    finally:
        os.close(descriptor)
