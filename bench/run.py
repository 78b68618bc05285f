"""`make bench`: starts the servers, seeds data, drives every scenario with wrk, writes the results.

Every figure is taken in one run on this machine, next to the ceiling (a constant-JSON ASGI app
under the same server settings), so ratios compare like with like even on a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shlex
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import heavy_writer, report
from bench.procstats import UsageSampler, cpu_seconds, tree
from bench.scenarios import (
    ISOLATION_SCENARIO,
    MOVIES_SCENARIO,
    SCENARIOS,
    Measured,
    Scenario,
    ceiling_script,
)
from bench.seed import Dataset, SeededUser, register, seed
from bench.servers import (
    REPOSITORY,
    Server,
    bare_server,
    base_environment,
    ceiling_server,
    free_port,
    service_server,
)
from bench.wrk import HttpRequest, WrkResult, ensure_wrk, run_wrk, script_cycling

UPSTREAM_LATENCY_S = 0.05
COUNTER_OVERHEAD_ROUNDS = 4  # slices of half a scenario's duration, per server
SLOW_UPSTREAM_LATENCY_S = 2.0
# The register scenario measures hashing, not the login/register rate limits (0: no limit).
NO_AUTH_RATE_LIMITS = {"AUTH_RATE_LIMIT_PER_USERNAME": "0", "AUTH_RATE_LIMIT_PER_ADDRESS": "0"}
# The throughput scenarios drive one user at thousands of requests a second, far past the
# per-user budgets; the heavy_writer scenario runs a server of its own with them at default.
NO_USER_BUDGETS = {
    "WRITES_PER_USER_PER_MINUTE": "0",
    "MOVIES_WRITTEN_PER_USER_PER_MINUTE": "0",
    "MOVIES_PER_USER_PER_MINUTE": "0",
    "MAX_COLLECTIONS_PER_USER": "0",
}
HEAVY_WRITER = "heavy_writer"
# Served again by bench/bare_app.py (the same work without FastAPI): the framework's share.
BARE_SCENARIOS = ("list_10x5", "detail", "request_count", "create")
UPSTREAM_USER = "bench"
UPSTREAM_PASSWORD = "bench-upstream-password"


@dataclass(slots=True)
class Options:
    duration_s: float
    warmup_s: float
    connections: int
    threads: int
    workers: int
    variants: list[str]
    scenarios: list[str] | None
    large_collections: int
    output_dir: Path
    docs: Path | None
    server_arguments: list[str] = field(default_factory=list)
    counter_overhead: bool = True


@dataclass(slots=True)
class ScenarioResult:
    key: str
    title: str
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    status_counts: dict[int, int]
    cpu_percent: float
    peak_rss_mb: float
    cpu_us_per_request: float
    ratio_to_ceiling: float
    ratio_at_equal_cpu: float
    target: str
    passed: bool | None
    note: str = ""


def _measure(
    server: Server,
    url_path: str,
    script: str,
    options: Options,
    expected: int,
    timeout_s: float,
    duration_s: float | None = None,
) -> tuple[WrkResult, float, float, float]:
    """A warm-up (discarded), then the measured run with the server tree's CPU and RSS.

    Returns wrk's result, CPU percent, peak RSS (MB) and server CPU microseconds per request.
    """
    url = server.url + url_path
    settle(server)
    if options.warmup_s > 0:
        run_wrk(
            url,
            script,
            duration_s=options.warmup_s,
            connections=options.connections,
            threads=options.threads,
            timeout_s=timeout_s,
            expected_status=expected,
        )
    with UsageSampler(server.pid) as sampler:
        result = run_wrk(
            url,
            script,
            duration_s=duration_s or options.duration_s,
            connections=options.connections,
            threads=options.threads,
            timeout_s=timeout_s,
            expected_status=expected,
        )
    usage = sampler.usage
    cpu_us = 1e6 * usage.cpu_seconds / result.requests if result.requests else 0.0
    return result, usage.cpu_percent, usage.peak_rss_mb, cpu_us


def settle(server: Server, quiet_percent: float = 25, limit_s: float = 60) -> None:
    """Wait until the server has finished what earlier load left queued (register's hashes
    go on for seconds after wrk stops), so it does not count against the next scenario."""
    pids = tree(server.pid)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        time.sleep(0.5)
        if 100 * (cpu_seconds(pids) - before) / 0.5 < quiet_percent:
            return


def measure_ceiling(options: Options) -> dict[str, Any]:
    script = ceiling_script()
    with ceiling_server(options.workers, options.server_arguments) as server:
        result, cpu, rss, cpu_us = _measure(server, "/", script, options, 200, 5)
    print(
        f"  ceiling: {result.requests_per_s:,.0f} req/s, p99 {result.p99_ms:.1f} ms, "
        f"server CPU {cpu_us:.0f} us/request",
        flush=True,
    )
    return {
        "cpu_us_per_request": cpu_us,
        "requests_per_s": result.requests_per_s,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "errors": result.errors,
        "cpu_percent": cpu,
        "peak_rss_mb": rss,
    }


def run_scenario(
    server: Server,
    scenario: Scenario,
    data: Dataset,
    prefix: str,
    options: Options,
    variant: str,
    ceiling: dict[str, Any],
) -> ScenarioResult:
    script = scenario.script(data, prefix)
    scenario_options = replace(
        options,
        connections=scenario.connections or options.connections,
        warmup_s=options.warmup_s if scenario.warmup else 0,
    )
    result, cpu, rss, cpu_us = _measure(
        server,
        "/",
        script,
        scenario_options,
        scenario.expected_status,
        scenario.timeout_s,
        duration_s=options.duration_s * scenario.duration_factor,
    )
    ceiling_rps = ceiling["requests_per_s"]
    ratio = result.requests_per_s / ceiling_rps if ceiling_rps else 0.0
    # The same comparison by server CPU per request: steadier than req/s on a busy machine.
    equal_cpu = ceiling["cpu_us_per_request"] / cpu_us if cpu_us else 0.0
    measured = Measured(result.requests_per_s, result.p50_ms, result.p99_ms, result.errors, ratio)
    target, passed = scenario.target, scenario.judge(measured, variant)
    if scenario.key == "movies":
        bound = options.connections / UPSTREAM_LATENCY_S
        target = f"≥ {0.8 * bound:,.0f} req/s (80% of {options.connections} ÷ 50 ms), 0 errors"
        passed = result.errors == 0 and result.requests_per_s >= 0.8 * bound
    print(
        f"  {scenario.key:<16} {result.requests_per_s:>9,.0f} req/s  p50 {result.p50_ms:7.1f} ms"
        f"  p99 {result.p99_ms:7.1f} ms  errors {result.errors}"
        f"  cpu {cpu:4.0f}% {cpu_us:6.0f} us/req"
        f"  ratio {ratio:6.1%} (at equal CPU {equal_cpu:6.1%})"
        f"  {'PASS' if passed else 'FAIL' if passed is False else ''}",
        flush=True,
    )
    return ScenarioResult(
        key=scenario.key,
        title=scenario.title,
        requests_per_s=result.requests_per_s,
        p50_ms=result.p50_ms,
        p90_ms=result.p90_ms,
        p99_ms=result.p99_ms,
        max_ms=result.max_ms,
        errors=result.errors,
        status_counts=result.status_counts,
        cpu_percent=cpu,
        peak_rss_mb=rss,
        cpu_us_per_request=cpu_us,
        ratio_to_ceiling=ratio,
        ratio_at_equal_cpu=equal_cpu,
        target=target,
        passed=passed,
    )


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A database of our own on the shared PostgreSQL, dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    admin = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"mc_bench_{prefix}"

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def delete_redis_keys(url: str, key_prefix: str) -> None:
    """Only our own keys: the shared Redis is never flushed."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=key_prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def has_mock_upstream() -> bool:
    from movie_collections.cli import build_parser

    parser = build_parser()
    return any(
        "mock-upstream" in (getattr(action, "choices", None) or {}) for action in parser._actions
    )


@contextlib.contextmanager
def mock_upstream(latency_s: float) -> Iterator[Server | None]:
    """The stand-in catalogue with `latency_s` per answer, when the CLI offers it."""
    if not has_mock_upstream():
        yield None
        return
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "movie_collections",
        "mock-upstream",
        "--port",
        str(port),
        "--latency",
        str(latency_s),
        "--username",
        UPSTREAM_USER,
        "--password",
        UPSTREAM_PASSWORD,
    ]
    server = Server("mock-upstream", command, port, base_environment({}), "/__stats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def set_upstream_latency(upstream: Server, latency_s: float) -> None:
    response = httpx.post(upstream.url + "/__control", json={"latency": latency_s}, timeout=10)
    response.raise_for_status()


def isolation_from_slow_upstream(
    server: Server,
    data: Dataset,
    prefix: str,
    options: Options,
    variant: str,
    ceiling: dict[str, Any],
    upstream: Server,
) -> ScenarioResult:
    """GET /collection/ measured while 64 other connections wait on a 2 s upstream."""
    slow_load = threading.Thread(
        target=run_wrk,
        args=(server.url + "/", MOVIES_SCENARIO.script(data, prefix)),
        kwargs={
            "duration_s": options.warmup_s + options.duration_s + 2,
            "connections": options.connections,
            "threads": 1,
            "timeout_s": 15,
            "expected_status": 200,
        },
        daemon=True,
    )
    set_upstream_latency(upstream, SLOW_UPSTREAM_LATENCY_S)
    try:
        slow_load.start()
        time.sleep(1)
        result = run_scenario(server, ISOLATION_SCENARIO, data, prefix, options, variant, ceiling)
    finally:
        slow_load.join()
        set_upstream_latency(upstream, UPSTREAM_LATENCY_S)
    return result


def run_heavy_writer(
    environment: dict[str, str], options: Options, notes: list[str]
) -> ScenarioResult:
    """Other users' POST /collection/ while one user posts the heaviest bodies the per-user
    budgets allow, on a server with the budgets at their defaults (bench/heavy_writer.py)."""
    budgeted = {k: v for k, v in environment.items() if k not in NO_USER_BUDGETS}
    seconds = 2 * options.duration_s
    with service_server(options.workers, budgeted, options.server_arguments) as server:
        outcome = heavy_writer.measure(server.url, seconds, server.pid)
    beside = outcome.beside_heavy
    figures = heavy_writer.summary(beside)
    requests = len(beside.latencies_ms) + sum(outcome.heavy_statuses.values())
    usage = outcome.usage
    passed = figures["p50_ms"] <= 50 and beside.errors == 0
    notes.append(heavy_writer.describe(outcome))
    print(
        f"  {HEAVY_WRITER:<16} {figures['requests_per_s']:>9,.1f} req/s  p50 "
        f"{figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms  errors {beside.errors}"
        f"  cpu {usage.cpu_percent:4.0f}%  {'PASS' if passed else 'FAIL'}\n    {notes[-1]}",
        flush=True,
    )
    return ScenarioResult(
        key=HEAVY_WRITER,
        title=f"POST /collection/ of {heavy_writer.OTHER_USERS} users beside a heavy writer",
        requests_per_s=figures["requests_per_s"],
        p50_ms=figures["p50_ms"],
        p90_ms=figures["p90_ms"],
        p99_ms=figures["p99_ms"],
        max_ms=figures["max_ms"],
        errors=beside.errors,
        status_counts=beside.statuses,
        cpu_percent=usage.cpu_percent,
        peak_rss_mb=usage.peak_rss_mb,
        cpu_us_per_request=1e6 * usage.cpu_seconds / requests if requests else 0.0,
        ratio_to_ceiling=0.0,
        ratio_at_equal_cpu=0.0,
        target="others' p50 ≤ 50 ms, 0 errors",
        passed=passed,
        note=notes[-1],
    )


def run_variant(
    variant: str,
    environment: dict[str, str],
    options: Options,
    ceiling: dict[str, Any],
    upstream: Server | None,
) -> dict[str, Any]:
    prefix = secrets.token_hex(4)
    if upstream is not None:
        environment = {
            **environment,
            "MOVIES_API_URL": upstream.url + "/api/v1/maya/movies/",
            "MOVIES_API_USERNAME": UPSTREAM_USER,
            "MOVIES_API_PASSWORD": UPSTREAM_PASSWORD,
        }
    selected = [s for s in SCENARIOS if options.scenarios is None or s.key in options.scenarios]
    movies_wanted = options.scenarios is None or "movies" in options.scenarios
    heavy_wanted = options.scenarios is None or HEAVY_WRITER in options.scenarios
    notes: list[str] = []
    results: list[ScenarioResult] = []
    bare: list[ScenarioResult] = []
    seeded_s = 0.0
    if selected or movies_wanted:
        data, seeded_s = run_throughput(
            environment, options, variant, ceiling, upstream, prefix, selected, notes, results
        )
        without_fastapi = [s for s in selected if s.key in BARE_SCENARIOS]
        if without_fastapi:
            print("  the same work without FastAPI (bench/bare_app.py):", flush=True)
            with bare_server(options.workers, environment, options.server_arguments) as server:
                for scenario in without_fastapi:
                    bare.append(
                        run_scenario(server, scenario, data, prefix, options, variant, ceiling)
                    )
    if heavy_wanted:
        results.append(run_heavy_writer(environment, options, notes))
    return {
        "variant": variant,
        "seed_seconds": seeded_s,
        "scenarios": [asdict(r) for r in results],
        "bare": [asdict(r) for r in bare],
        "notes": notes,
    }


def run_throughput(
    environment: dict[str, str],
    options: Options,
    variant: str,
    ceiling: dict[str, Any],
    upstream: Server | None,
    prefix: str,
    selected: list[Scenario],
    notes: list[str],
    results: list[ScenarioResult],
) -> tuple[Dataset, float]:
    """The wrk scenarios against one seeded server; its data and the seconds seeding took."""
    movies_wanted = options.scenarios is None or "movies" in options.scenarios
    with service_server(options.workers, environment, options.server_arguments) as server:
        started = time.monotonic()
        data = asyncio.run(seed(server.url, prefix, options.large_collections))
        seeded_s = time.monotonic() - started
        print(f"  seeded in {seeded_s:.1f} s", flush=True)
        # Registration last: its Argon2 hashes keep the CPU busy long after wrk stops.
        for scenario in [s for s in selected if s.key != "register"]:
            results.append(run_scenario(server, scenario, data, prefix, options, variant, ceiling))
        if movies_wanted:
            if upstream is None:
                notes.append(
                    "GET /movies/ skipped: this build has no `movie-collections mock-upstream`."
                )
            else:
                results.append(
                    run_scenario(server, MOVIES_SCENARIO, data, prefix, options, variant, ceiling)
                )
                results.append(
                    isolation_from_slow_upstream(
                        server, data, prefix, options, variant, ceiling, upstream
                    )
                )
        for scenario in [s for s in selected if s.key == "register"]:
            results.append(run_scenario(server, scenario, data, prefix, options, variant, ceiling))
    return data, seeded_s


def counter_overhead(
    variant: str, environment: dict[str, str], backend: str, options: Options
) -> dict[str, Any]:
    """A/B on a trivial endpoint (GET /me/: token check, no database): the variant's counter
    vs COUNTER_BACKEND=off.

    The two servers run side by side and are measured in alternation, in rotated order (off
    first in one round, second in the next: whichever slice runs second in a round was seen to
    cost a few % more, and with a fixed order that bias fell on the counter every time). Judged
    on server CPU per request, which other load on the machine disturbs far less than
    requests/s (both are reported), as the median of the per-round ratios to "off": each
    round's two slices ran one after the other, on the same machine (the estimator of
    bench/counter_overhead.py).
    """
    rounds = COUNTER_OVERHEAD_ROUNDS
    names = ["off", backend]
    environments = {"off": {**environment, "COUNTER_BACKEND": "off"}, backend: environment}
    servers = {
        name: service_server(options.workers, environments[name], options.server_arguments)
        for name in names
    }
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu_costs: dict[str, list[float]] = {name: [] for name in names}
    try:
        for server in servers.values():
            server.start()
        user = asyncio.run(_register_one(servers["off"].url))
        script = script_cycling([HttpRequest("GET", "/me/", user.authorization)], False)
        for round_number in range(rounds):
            for name in names if round_number % 2 == 0 else names[::-1]:
                result, _cpu, _rss, cpu_us = _measure(
                    servers[name], "/", script, options, 200, 5, duration_s=options.duration_s / 2
                )
                rates[name].append(result.requests_per_s)
                cpu_costs[name].append(cpu_us)
    finally:
        for server in servers.values():
            server.stop()
    overhead = statistics.median(
        on / off - 1 for on, off in zip(cpu_costs[backend], cpu_costs["off"], strict=True) if off
    )
    off_cpu, on_cpu = statistics.median(cpu_costs["off"]), statistics.median(cpu_costs[backend])
    off_rate, on_rate = statistics.median(rates["off"]), statistics.median(rates[backend])
    print(
        f"  counter overhead ({backend}): {overhead:+.1%} CPU per request "
        f"({on_cpu:.0f} vs {off_cpu:.0f} us; {on_rate:,.0f} vs {off_rate:,.0f} req/s; medians)",
        flush=True,
    )
    return {
        "variant": variant,
        "backend": backend,
        "requests_per_s_counter_on": on_rate,
        "requests_per_s_counter_off": off_rate,
        "cpu_us_per_request_counter_on": on_cpu,
        "cpu_us_per_request_counter_off": off_cpu,
        "samples": {"requests_per_s": rates, "cpu_us_per_request": cpu_costs},
        "overhead": overhead,
        "target": f"≤ 5% (median of {rounds} rounds)",
        "passed": overhead <= 0.05,
    }


async def _register_one(base_url: str) -> SeededUser:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        return await register(client, secrets.token_hex(4), "counter")


def variant_environments(
    options: Options, stack: contextlib.ExitStack
) -> list[tuple[str, str, dict[str, str]]]:
    """(key, description, environment) of each variant that can run here."""
    secret = secrets.token_urlsafe(48)
    common = {
        "SECRET_KEY": secret,
        "LOG_LEVEL": "WARNING",
        **NO_AUTH_RATE_LIMITS,
        **NO_USER_BUDGETS,
    }
    found: list[tuple[str, str, dict[str, str]]] = []
    if "embedded" in options.variants:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mc-bench-")))
        found.append(
            (
                "embedded",
                "SQLite (WAL) + local counter files, the default",
                {
                    **common,
                    "DATABASE_URL": f"sqlite:///{directory}/bench.db",
                    "DATA_DIR": str(directory),
                },
            )
        )
    if "postgres" in options.variants:
        if _reachable(5432) and _reachable(6379):
            prefix = secrets.token_hex(4)
            database_url = stack.enter_context(postgres_database(prefix))
            redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
            key_prefix = f"mc-bench-{prefix}:"
            stack.callback(delete_redis_keys, redis_url, key_prefix)
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mc-bench-")))
            found.append(
                (
                    "postgres",
                    "PostgreSQL + Redis counter",
                    {
                        **common,
                        "DATABASE_URL": database_url,
                        "REDIS_URL": redis_url,
                        "REDIS_KEY_PREFIX": key_prefix,
                        "DATA_DIR": str(directory),
                    },
                )
            )
        else:
            print("PostgreSQL or Redis is not reachable: skipping that variant", flush=True)
    return found


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--duration", type=float, default=10, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2, help="discarded seconds before each")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--variants", default="embedded,postgres")
    parser.add_argument(
        "--scenarios",
        default=None,
        help=f"comma-separated keys (default all; `{HEAVY_WRITER}` alone runs only it)",
    )
    parser.add_argument("--large-collections", type=int, default=1000)
    parser.add_argument("--output-dir", type=Path, default=REPOSITORY / "bench" / "results")
    parser.add_argument("--docs", type=Path, default=REPOSITORY / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="write the JSON only")
    parser.add_argument("--no-counter-overhead", action="store_true")
    parser.add_argument(
        "server_arguments", nargs="*", help="extra `serve` options, given to both servers"
    )
    arguments = parser.parse_args(argv)
    options = Options(
        duration_s=arguments.duration,
        warmup_s=arguments.warmup,
        connections=arguments.connections,
        threads=arguments.threads,
        workers=arguments.workers,
        variants=arguments.variants.split(","),
        scenarios=arguments.scenarios.split(",") if arguments.scenarios else None,
        large_collections=arguments.large_collections,
        output_dir=arguments.output_dir,
        docs=None if arguments.no_docs else arguments.docs,
        server_arguments=arguments.server_arguments,
        counter_overhead=not arguments.no_counter_overhead,
    )
    return options


def main(argv: list[str] | None = None) -> Path:
    options = parse_options(argv)
    ensure_wrk()
    started = datetime.now(UTC)
    print(
        f"benchmark: {options.workers} workers, {options.connections} connections, "
        f"{options.duration_s:g} s per scenario (+{options.warmup_s:g} s warm-up)",
        flush=True,
    )
    print("ceiling (constant JSON, same server settings):", flush=True)
    ceiling_before = measure_ceiling(options)
    variants: list[dict[str, Any]] = []
    overheads: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(mock_upstream(UPSTREAM_LATENCY_S))
        for key, description, environment in variant_environments(options, stack):
            print(f"{key}: {description}", flush=True)
            outcome = run_variant(key, environment, options, ceiling_before, upstream)
            outcome["description"] = description
            variants.append(outcome)
            if options.counter_overhead and options.scenarios is None:
                backend = "redis" if "REDIS_URL" in environment else "local"
                overheads.append(counter_overhead(key, environment, backend, options))
    print("ceiling again (drift check):", flush=True)
    ceiling_after = measure_ceiling(options)
    document = {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench  # "
        + shlex.join(["python", "-m", "bench.run", *(argv or sys.argv[1:])]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
        },
        "settings": {
            "duration_s": options.duration_s,
            "warmup_s": options.warmup_s,
            "connections": options.connections,
            "wrk_threads": options.threads,
            "workers": options.workers,
            "server_arguments": options.server_arguments,
            "large_collections": options.large_collections,
        },
        "ceiling": {"before": ceiling_before, "after": ceiling_after},
        "variants": variants,
        "counter_overhead": overheads,
    }
    options.output_dir.mkdir(parents=True, exist_ok=True)
    path = options.output_dir / f"{started.strftime('%Y-%m-%d_%H%M')}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {path}", flush=True)
    if options.docs is not None:
        report.render(document, path, options.docs)
        print(f"report: {options.docs}", flush=True)
    return path


if __name__ == "__main__":
    main()
