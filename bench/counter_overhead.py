"""Server CPU per request of GET /me/ with the request counter off, local and Redis, under wrk:
`python bench/counter_overhead.py [--duration 4] [--rounds 8] [--workers 2]`.

One server per backend runs throughout; each round gives every backend one wrk slice, in
rotated order, so a shared machine's drift hits all alike. The figure is server CPU per
request (from /proc), over all slices and as the median of the per-round ratios to "off"."""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

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


class Target:
    """One running server (`movie-collections serve --workers N`) with one counter backend."""

    def __init__(
        self, backend: str, workers: int, work: Path, settings: dict[str, str] | None = None
    ) -> None:
        self.backend = backend
        self.prefix = f"bench-{secrets.token_hex(6)}:"
        counter = backend.split("+")[0]  # "redis+nowait": the redis backend, other settings
        (work / backend).mkdir(parents=True, exist_ok=True)  # the SQLite file's directory
        environment = {
            "DATABASE_URL": f"sqlite:///{work / backend / 'app.db'}",
            "COUNTER_BACKEND": counter,
            "LOG_LEVEL": "ERROR",
            **(settings or {}),
        }
        if counter == "redis":
            environment |= {"REDIS_URL": REDIS_TEST_URL, "REDIS_KEY_PREFIX": self.prefix}
        self.server = ServerProcess(environment, workers=workers).start()
        registered = httpx.post(
            f"{self.server.url}/register/",
            json={"username": f"bench_{secrets.token_hex(4)}", "password": PASSWORD},
        )
        registered.raise_for_status()
        token = registered.json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.script = work / f"{backend}.lua"
        self.script.write_text(WRK_SCRIPT.format(token=token))

    def slice(self, wrk: str, duration: int, connections: int) -> tuple[int, float, float]:
        """One wrk run: requests completed, requests/s, server CPU seconds."""
        assert self.server.process is not None
        before = _count(self.server.url, self.headers)
        cpu_before = _group_cpu_seconds(self.server.process.pid)
        result = subprocess.run(
            [
                wrk,
                "-t2",
                f"-c{connections}",
                f"-d{duration}s",
                "-s",
                str(self.script),
                f"{self.server.url}/me/",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        cpu = _group_cpu_seconds(self.server.process.pid) - cpu_before
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
        served = int(re.search(r"(\d+) requests in", result.stdout).group(1))  # type: ignore[union-attr]
        if "Non-2xx" in result.stdout:
            sys.exit(f"{self.backend}: wrk saw errors:\n{result.stdout}")
        after = _count(self.server.url, self.headers)
        if before is not None and after is not None and after - before != served + 1:
            # wrk counts only completed responses; requests cut off at the end still count.
            print(f"  note: {self.backend} counted {after - before - 1}, wrk completed {served}")
        return served, rate, cpu

    def close(self) -> None:
        self.server.stop()
        if self.backend.startswith("redis"):
            import redis

            client = redis.Redis.from_url(REDIS_TEST_URL)
            keys = list(client.scan_iter(match=f"{self.prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()


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
    parser.add_argument("--duration", type=int, default=4, help="seconds of load per slice")
    parser.add_argument("--rounds", type=int, default=8, help="slices per backend")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:SETTING=VALUE,...",
        help="one more server, e.g. redis+nowait:COUNTER_DURABLE_WAIT=0 (to locate a cost)",
    )
    arguments = parser.parse_args()
    wrk = ensure_wrk()
    backends = ["off", "local"] + (["redis"] if redis_reachable() else [])
    variants: dict[str, dict[str, str]] = {}
    for variant in arguments.variant:
        name, _, settings = variant.partition(":")
        variants[name] = dict(item.split("=", 1) for item in settings.split(",") if item)
        backends.append(name)
    if "redis" not in backends:
        print("Redis is not reachable on 127.0.0.1:6379: the redis backend is skipped")
    rates: dict[str, list[float]] = {backend: [] for backend in backends}
    costs: dict[str, list[float]] = {backend: [] for backend in backends}
    totals = {backend: [0, 0.0] for backend in backends}  # requests, CPU seconds
    with tempfile.TemporaryDirectory(prefix="counter-bench-") as directory:
        targets = [
            Target(backend, arguments.workers, Path(directory), variants.get(backend))
            for backend in backends
        ]
        try:
            for round_number in range(arguments.rounds):
                # Rotated order: no backend always runs first (or right after another).
                shift = round_number % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    served, rate, cpu = target.slice(wrk, arguments.duration, arguments.connections)
                    rates[target.backend].append(rate)
                    costs[target.backend].append(cpu / max(served, 1) * 1e6)
                    totals[target.backend][0] += served
                    totals[target.backend][1] += cpu
                print(
                    f"round {round_number + 1}: "
                    + ", ".join(
                        f"{backend} {rates[backend][-1]:.0f} req/s {costs[backend][-1]:.0f} us"
                        for backend in backends
                    )
                )
        finally:
            for target in targets:
                target.close()
    report(arguments, backends, rates, costs, totals)


def report(
    arguments: argparse.Namespace,
    backends: list[str],
    rates: dict[str, list[float]],
    costs: dict[str, list[float]],
    totals: dict[str, list[Any]],
) -> None:
    """Per backend: throughput, CPU per request over all its slices, and the median of the
    per-round ratios to "off" (each round's slices ran back to back: same machine state)."""
    print(
        f"\nGET /me/, {arguments.workers} workers, wrk -t2 -c{arguments.connections}, "
        f"{arguments.rounds} rounds of {arguments.duration} s slices, servers running side by side"
    )
    print(
        "| counter | requests/s (median) | server CPU per request (all slices) "
        "| vs off (all slices) | vs off (median of rounds) |"
    )
    print("| --- | --- | --- | --- | --- |")
    off_cost = totals["off"][1] / max(totals["off"][0], 1) * 1e6
    for backend in backends:
        cost = totals[backend][1] / max(totals[backend][0], 1) * 1e6
        paired = statistics.median(
            mine / off for mine, off in zip(costs[backend], costs["off"], strict=True)
        )
        print(
            f"| {backend} | {statistics.median(rates[backend]):.0f} | {cost:.0f} us "
            f"| {(cost - off_cost) / off_cost * 100:+.1f}% | {(paired - 1) * 100:+.1f}% |"
        )


if __name__ == "__main__":
    main()
