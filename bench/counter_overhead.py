"""Throughput of a trivial authenticated endpoint (GET /me/) with the request counter off,
local and Redis, in one run, with wrk as the load generator.

    .venv/bin/python bench/counter_overhead.py [--duration 10] [--rounds 2] [--workers 2]

Each round starts a fresh server (`movie-collections serve --workers N`) per backend, in
turn, so drift of a shared machine spreads over all backends; the best round per backend is
reported (the least disturbed one). wrk is installed with apt-get when it is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.processes import ServerProcess
from tests.services import REDIS_TEST_URL, redis_reachable

PASSWORD = "benchmark password"
WRK_SCRIPT = 'wrk.headers["Authorization"] = "Bearer {token}"\n'


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
        found = shutil.which("wrk")
    if found is None:
        sys.exit("wrk is not available and could not be installed")
    return found


def run_backend(
    wrk: str, backend: str, workers: int, duration: int, connections: int, work: Path
) -> tuple[float, float]:
    """Requests/s and server CPU microseconds per request (robust on a busy machine)."""
    environment = {
        "DATABASE_URL": f"sqlite:///{work / backend / 'app.db'}",
        "COUNTER_BACKEND": backend,
        "LOG_LEVEL": "ERROR",
    }
    prefix = f"bench-{secrets.token_hex(6)}:"
    if backend == "redis":
        environment |= {"REDIS_URL": REDIS_TEST_URL, "REDIS_KEY_PREFIX": prefix}
    with ServerProcess(environment, workers=workers) as server:
        registered = httpx.post(
            f"{server.url}/register/",
            json={"username": f"bench_{secrets.token_hex(4)}", "password": PASSWORD},
        )
        registered.raise_for_status()
        token = registered.json()["access_token"]
        script = work / f"{backend}.lua"
        script.write_text(WRK_SCRIPT.format(token=token))
        headers = {"Authorization": f"Bearer {token}"}
        before = _count(server.url, headers)
        assert server.process is not None
        cpu_before = _group_cpu_seconds(server.process.pid)
        result = subprocess.run(
            [
                wrk,
                "-t2",
                f"-c{connections}",
                f"-d{duration}s",
                "-s",
                str(script),
                f"{server.url}/me/",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
        served = int(re.search(r"(\d+) requests in", result.stdout).group(1))  # type: ignore[union-attr]
        cpu = _group_cpu_seconds(server.process.pid) - cpu_before
        if "Non-2xx" in result.stdout:
            sys.exit(f"{backend}: wrk saw errors:\n{result.stdout}")
        after = _count(server.url, headers)
        if before is not None and after is not None and after - before != served + 1:
            # wrk counts only completed responses; requests cut off at the end still count.
            print(f"  note: {backend} counted {after - before - 1}, wrk completed {served}")
    if backend == "redis":
        import redis

        client = redis.Redis.from_url(REDIS_TEST_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    return rate, cpu / max(served, 1) * 1e6


def _group_cpu_seconds(group: int) -> float:
    """User + system CPU seconds of every process in the server's process group."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # field 5 of stat: process group id
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _count(url: str, headers: dict[str, str]) -> int | None:
    response = httpx.get(f"{url}/request-count/", headers=headers, timeout=10)
    return int(response.json()["requests"]) if response.status_code == 200 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs per backend")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    arguments = parser.parse_args()
    wrk = ensure_wrk()
    backends = ["off", "local"] + (["redis"] if redis_reachable() else [])
    if "redis" not in backends:
        print("Redis is not reachable on 127.0.0.1:6379: the redis backend is skipped")
    rates: dict[str, list[float]] = {backend: [] for backend in backends}
    cpu_costs: dict[str, list[float]] = {backend: [] for backend in backends}
    with tempfile.TemporaryDirectory(prefix="counter-bench-") as directory:
        for round_number in range(arguments.rounds):
            for backend in backends:
                rate, cpu_per_request = run_backend(
                    wrk,
                    backend,
                    arguments.workers,
                    arguments.duration,
                    arguments.connections,
                    Path(directory) / f"round{round_number}",
                )
                rates[backend].append(rate)
                cpu_costs[backend].append(cpu_per_request)
                print(
                    f"round {round_number + 1} {backend:>5}: {rate:8.0f} requests/s, "
                    f"{cpu_per_request:6.0f} us server CPU per request"
                )
    best_off = max(rates["off"])
    cheapest_off = min(cpu_costs["off"])
    print(
        f"\nGET /me/, {arguments.workers} workers, wrk -t2 -c{arguments.connections} "
        f"-d{arguments.duration}s, best of {arguments.rounds}"
    )
    print("| counter | requests/s (best) | vs off | server CPU per request (least) | vs off |")
    print("| --- | --- | --- | --- | --- |")
    for backend in backends:
        best = max(rates[backend])
        cheapest = min(cpu_costs[backend])
        print(
            f"| {backend} | {best:.0f} | {(best - best_off) / best_off * 100:+.1f}% "
            f"| {cheapest:.0f} us | {(cheapest - cheapest_off) / cheapest_off * 100:+.1f}% |"
        )


if __name__ == "__main__":
    main()
