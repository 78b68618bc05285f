"""The local request counter: several instances sharing one directory stand for worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from movie_collections.counter.backend import CounterUnavailable
from movie_collections.counter.local import LocalFileCounter
from tests.private_services import SmallTmpfs
from tests.services import skip_or_fail


async def started(directory: Path) -> LocalFileCounter:
    counter = LocalFileCounter(directory)
    await counter.start()
    return counter


def count_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("worker-*.count"))


async def test_workers_sharing_a_directory_sum_exactly(tmp_path: Path) -> None:
    first, second = await started(tmp_path), await started(tmp_path)
    for _ in range(1000):
        first.increment()
    for _ in range(234):
        second.increment()
    assert await first.total() == 1234
    assert await second.total() == 1234
    assert len(count_files(tmp_path)) == 2
    await first.stop()
    await second.stop()


async def test_a_stopped_workers_count_is_kept_and_folded_once(tmp_path: Path) -> None:
    first = await started(tmp_path)
    for _ in range(7):
        first.increment()
    await first.stop()
    live = await started(tmp_path)  # folds the dead worker's file into `retired`
    assert await live.total() == 7
    assert len(count_files(tmp_path)) == 1  # only the live worker's file is left
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["retired"] == 7
    assert state["folded"] == []
    live.increment()
    again = await started(tmp_path)  # a second compaction must not fold it again
    assert await again.total() == 8
    await live.stop()
    await again.stop()


async def test_a_live_workers_file_is_never_folded(tmp_path: Path) -> None:
    live = await started(tmp_path)
    live.increment()
    newcomer = await started(tmp_path)
    assert len(count_files(tmp_path)) == 2
    live.increment()  # still counted from its own file
    assert await newcomer.total() == 2
    await live.stop()
    await newcomer.stop()


async def test_crash_between_folding_and_deleting_counts_once(tmp_path: Path) -> None:
    dead = await started(tmp_path)
    for _ in range(5):
        dead.increment()
    await dead.stop()
    [dead_file] = count_files(tmp_path)
    # What a worker leaves when it dies right after writing the state, before deleting.
    (tmp_path / "state.json").write_text(
        json.dumps({"retired": 5, "baseline": 0, "folded": [dead_file.name]})
    )
    reader = LocalFileCounter(tmp_path)
    assert await reader.total() == 5
    live = await started(tmp_path)  # finishes the deletion
    assert not dead_file.exists()
    assert await live.total() == 5
    await live.stop()


async def test_a_killed_process_keeps_its_count(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        from pathlib import Path
        from movie_collections.counter.local import LocalFileCounter

        async def main():
            counter = LocalFileCounter(Path({str(tmp_path)!r}))
            await counter.start()
            for _ in range(321):
                counter.increment()
            print("ready", flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    process = subprocess.Popen(  # noqa: ASYNC220  (started once, read with a plain readline)
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        observer = await started(tmp_path)  # the worker is alive: its file is not folded
        assert len(count_files(tmp_path)) == 2
        assert await observer.total() == 321
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    after = await started(tmp_path)  # SIGKILL released the lock: now it is folded
    assert await after.total() == 321
    assert len(count_files(tmp_path)) == 2  # observer's and after's own files
    await observer.stop()
    await after.stop()


async def test_reset_starts_from_zero_and_survives_restart(tmp_path: Path) -> None:
    first, second = await started(tmp_path), await started(tmp_path)
    for _ in range(10):
        first.increment()
        second.increment()
    await first.reset()
    assert await second.total() == 0
    first.increment()
    second.increment()
    second.increment()
    assert await first.total() == 3
    await first.stop()
    await second.stop()
    restarted = await started(tmp_path)
    assert await restarted.total() == 3
    restarted.increment()
    assert await restarted.total() == 4
    await restarted.stop()


async def test_increment_before_start_or_after_stop_does_not_raise(tmp_path: Path) -> None:
    counter = LocalFileCounter(tmp_path)
    counter.increment()
    await counter.start()
    counter.increment()
    await counter.stop()
    counter.increment()
    assert await LocalFileCounter(tmp_path).total() == 1


async def test_a_read_waits_for_a_reset_in_progress_and_sees_its_result(tmp_path: Path) -> None:
    """Reads run on the event loop without waiting; while a reset (or a compaction) holds the
    lock they must wait for it instead of reading half of it."""
    reader, other = await started(tmp_path), await started(tmp_path)
    for _ in range(5):
        other.increment()
    assert await reader.total() == 5  # the event-loop read, through a kept mapping
    descriptor = os.open(tmp_path / "lock", os.O_RDWR)
    fcntl.flock(descriptor, fcntl.LOCK_EX)  # a reset in progress, in "another process"
    try:
        waiting = asyncio.create_task(reader.total())
        await asyncio.sleep(0.2)
        assert not waiting.done()
        state = {"retired": 0, "baseline": 5, "folded": []}
        (tmp_path / "state.json").write_text(json.dumps(state))
    finally:
        os.close(descriptor)  # the reset is done
    assert await asyncio.wait_for(waiting, 5) == 0
    other.increment()
    await other.stop()
    assert await reader.total() == 1  # a stopped worker's file still counts, then is let go
    assert await (await started(tmp_path)).total() == 1
    assert await reader.total() == 1
    await reader.stop()


async def test_a_full_disk_is_a_state_the_count_survives() -> None:
    """On a full disk: a reset fails cleanly (no temp file left), a worker starting counts in
    memory (no file it could SIGBUS on) and reads refuse to guess; once space is back the
    worker stores what it counted and the total is exact again."""
    if not SmallTmpfs.available():
        skip_or_fail("mounting a tmpfs needs root")
    with SmallTmpfs("1m") as tmpfs:
        directory = tmpfs.path / "counter"
        first = await started(directory)
        for _ in range(3):
            first.increment()
        tmpfs.fill()
        with pytest.raises(CounterUnavailable):
            await first.reset()
        assert list(directory.glob(".state.json.*")) == []
        second = await started(directory)  # cannot allocate its file
        for _ in range(5):
            second.increment()
        for reader in (first, second):
            with pytest.raises(CounterUnavailable):
                await reader.total()
        tmpfs.free()
        for _ in range(50):  # the worker tries again every second
            with contextlib.suppress(CounterUnavailable):
                assert await second.total() == 8
                break
            await asyncio.sleep(0.1)
        assert await first.total() == 8
        await first.reset()
        second.increment()
        assert await first.total() == 1
        await first.stop()
        await second.stop()
