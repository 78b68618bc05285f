"""A worker killed with SIGKILL in the middle of writes loses nothing it acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.processes import NO_USER_BUDGETS, ServerProcess, replacement_of, worker_pids
from tests.reliability.traffic import Traffic

pytestmark = pytest.mark.slow


async def test_sigkill_of_a_worker_and_then_of_the_server_loses_no_acknowledged_write(
    tmp_path: Path,
) -> None:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "SECRET_KEY": "fault-secret-0123456789abcdef0123456789abcdef",
        "IDEMPOTENCY_IN_FLIGHT_TIMEOUT": "2",
        **NO_USER_BUDGETS,
    }
    server = ServerProcess(environment, workers=2).start()
    try:
        workers = worker_pids(server)
        assert len(workers) == 2, workers
        traffic = Traffic(server.url, clients=6, idempotent_creates=True)
        running = asyncio.create_task(traffic.run())
        await asyncio.sleep(2.0)
        acknowledged_before = len(traffic.collections)
        os.kill(workers[0], signal.SIGKILL)
        killed_at = time.monotonic()
        await asyncio.sleep(3.0)
        # The supervisor replaced the dead worker and the survivor kept serving.
        replaced = await replacement_of(server, workers[0])
        assert workers[0] not in replaced
        assert len(replaced) == 2
        recent = traffic.statuses_between(killed_at + 1.5, time.monotonic())
        assert recent[200] + recent[201] > 0, recent
        # Now the whole server dies at once, mid-write.
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        await asyncio.sleep(0.3)
        traffic.stop.set()
        await running
    finally:
        server.stop()

    print(  # reported in docs/reliability.md (pytest -s shows it)
        f"worker kill: {sum(traffic.statuses.values())} answers {dict(traffic.statuses)}, "
        f"{traffic.transport_errors} cut connections, {len(traffic.collections)} collections"
    )
    assert len(traffic.collections) > acknowledged_before > 0
    # Only the killed connections failed, and nothing answered 5xx.
    assert not [s for s in traffic.statuses if s >= 500], traffic.statuses
    with ServerProcess(environment, workers=1) as restarted:
        problems = await traffic.verify(restarted.url)
    assert problems == []
