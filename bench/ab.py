"""Interleaved A/B of source trees under the real server, for a noisy machine: `python -m
bench.ab --variant main=/tmp/base/src --variant new=src --scenarios create,replace`.

Rounds alternate the variants (`serve --workers 2`, a fresh SQLite file, seeded, 2 s warm-up,
wrk at 64 connections, server CPU sampled), so other load falls on both; the summary is the
median of the rounds. `--serve-args NAME=ARGS` adds `serve` options; `ceiling` is a scenario."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import shutil
import statistics
import tempfile
from pathlib import Path

from bench.procstats import UsageSampler
from bench.run import NO_AUTH_RATE_LIMITS, NO_USER_BUDGETS
from bench.scenarios import SCENARIOS, Scenario, ceiling_script
from bench.seed import Dataset, seed
from bench.servers import REPOSITORY, Server, ceiling_server, service_server
from bench.wrk import WrkResult, run_wrk

CONNECTIONS = 64
CEILING = "ceiling"


def _wrk(server: Server, script: str, expected_status: int, seconds: float) -> WrkResult:
    return run_wrk(
        server.url + "/",
        script,
        duration_s=seconds,
        connections=CONNECTIONS,
        threads=2,
        timeout_s=5,
        expected_status=expected_status,
    )


def measure(server: Server, scenario: Scenario, data: Dataset, prefix: str, seconds: float) -> str:
    """One scenario on a running server: a warm-up, then the measured run; a report line."""
    return _measure_script(server, scenario.script(data, prefix), scenario.expected_status, seconds)


def _measure_script(server: Server, script: str, expected_status: int, seconds: float) -> str:
    _wrk(server, script, expected_status, 2)
    with UsageSampler(server.pid) as sampler:
        result = _wrk(server, script, expected_status, seconds)
    usage = sampler.usage
    cpu_us = 1e6 * usage.cpu_seconds / max(1, result.requests)
    errors = result.socket_errors + result.unexpected_status
    return (
        f"{result.requests_per_s:7.0f} req/s  p50 {result.p50_ms:6.1f}  p99 {result.p99_ms:7.1f} ms"
        f"  errors {errors}  cpu {usage.cpu_percent:4.0f}%  {cpu_us:6.0f} us/req"
        f"  load {os.getloadavg()[0]:.1f}"
    )


def measure_ceiling(source: Path, serve_arguments: list[str], seconds: float) -> str:
    """The constant-JSON app under this variant's server settings (bench/ceiling.py)."""
    server = ceiling_server(2, serve_arguments)
    server.environment["PYTHONPATH"] = f"{source.resolve()}{os.pathsep}{REPOSITORY}"
    with server:
        return _measure_script(server, ceiling_script(), 200, seconds)


def run_variant(
    source: Path, serve_arguments: list[str], scenarios: list[Scenario], seconds: float
) -> dict[str, str]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    environment = {
        "DATABASE_URL": f"sqlite:///{data_dir}/app.db",
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": secrets.token_hex(32),
        "LOG_LEVEL": "WARNING",
        **NO_AUTH_RATE_LIMITS,
        **NO_USER_BUDGETS,
    }
    server = service_server(2, environment, serve_arguments)
    server.environment["PYTHONPATH"] = f"{source.resolve()}{os.pathsep}{REPOSITORY}"
    try:
        with server:
            prefix = "ab" + secrets.token_hex(3)
            data = asyncio.run(seed(server.url, prefix, large_collections=0))
            return {s.key: measure(server, s, data, prefix, seconds) for s in scenarios}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", required=True, help="NAME=SOURCE_TREE")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8, help="seconds per measured run")
    parser.add_argument("--scenarios", default="create,replace", help=f"keys, or {CEILING!r}")
    parser.add_argument(
        "--serve-args", action="append", default=[], help="NAME=ARGS: extra `serve` options"
    )
    arguments = parser.parse_args()
    variants = [(name, Path(tree)) for name, tree in (v.split("=", 1) for v in arguments.variant)]
    serve_arguments = {
        name: shlex.split(options)
        for name, options in (v.split("=", 1) for v in arguments.serve_args)
    }
    keys = arguments.scenarios.split(",")
    by_key = {scenario.key: scenario for scenario in SCENARIOS}
    scenarios = [by_key[key] for key in keys if key != CEILING]
    lines: dict[tuple[str, str], list[str]] = {}
    for round_ in range(arguments.rounds):
        for name, tree in variants:
            extra = serve_arguments.get(name, [])
            results = {}
            if CEILING in keys:
                results[CEILING] = measure_ceiling(tree, extra, arguments.duration)
            if scenarios:
                results.update(run_variant(tree, extra, scenarios, arguments.duration))
            for key, line in results.items():
                print(f"round {round_} {name:>8} {key:>8} {line}", flush=True)
                lines.setdefault((name, key), []).append(line)
    print("\nmedian of the rounds (req/s, CPU us/request):")
    for (name, key), runs in lines.items():
        rates = [float(line.split()[0]) for line in runs]
        cpus = [float(line.split(" us/req")[0].split()[-1]) for line in runs]
        print(f"{name:>8} {key:>8} {statistics.median(rates):7.0f} {statistics.median(cpus):6.0f}")


if __name__ == "__main__":
    main()
