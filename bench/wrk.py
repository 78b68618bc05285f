"""Drives one scenario with wrk: generates its Lua script, runs it, parses the summary it prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

RESULT_MARKER = "BENCH_RESULT "


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str | None = None


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    unexpected_status: int
    status_counts: dict[int, int]

    @property
    def errors(self) -> int:
        return self.socket_errors + self.unexpected_status


def ensure_wrk() -> str:
    """wrk from Debian's packages, installed when missing (the script runs as root here)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing it with apt-get", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update", "-q"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
        found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk could not be installed (apt-get install wrk)")
    return found


def lua_string(text: str) -> str:
    """A Lua string literal for any text (bytes escaped as decimal, so UTF-8 survives)."""
    out = ['"']
    for byte in text.encode():
        char = chr(byte)
        if char in '"\\' or byte < 32 or byte > 126:
            out.append(f"\\{byte:03d}")  # three digits: a digit may follow
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _lua_request(request: HttpRequest) -> str:
    headers = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in request.headers.items())
    body = lua_string(request.body) if request.body is not None else "nil"
    return (
        f"wrk.format({lua_string(request.method)}, {lua_string(request.path)}, "
        f"{{{headers}}}, {body})"
    )


# Every thread counts the statuses it saw only when asked (a `response` hook costs wrk CPU);
# otherwise wrk's own count of statuses >= 400 is used.
_COMMON = """
local threads = {}
local thread_count = 0
setup = function(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  table.insert(threads, thread)
end
%(response_hook)s
done = function(summary, latency, requests)
  local statuses = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("status_counts")
    if counts then
      for status, n in pairs(counts) do statuses[status] = (statuses[status] or 0) + n end
    end
  end
  local parts = {}
  for status, n in pairs(statuses) do table.insert(parts, string.format('"%%d":%%d', status, n)) end
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
    '"statuses":{%%s}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ",")))
end
"""

_RESPONSE_HOOK = """
status_counts = {}
response = function(status, headers, body)
  status_counts[status] = (status_counts[status] or 0) + 1
end
"""


def script_cycling(requests: list[HttpRequest], count_statuses: bool) -> str:
    """Each connection sends the given requests in turn (pre-formatted once per thread)."""
    items = ",\n  ".join(f"function() return {_lua_request(r)} end" for r in requests)
    return _script(
        count_statuses,
        f"""
local makers = {{
  {items}
}}
local formatted = {{}}
local index = 0
init = function(args)
  for i, make in ipairs(makers) do formatted[i] = make() end
  index = thread_id or 0
end
request = function()
  index = index + 1
  return formatted[(index % #formatted) + 1]
end
""",
    )


def script_lanes(lanes: list[list[HttpRequest]], count_statuses: bool) -> str:
    """Each lane (e.g. the requests meant for one collection, in order) is sent by one wrk
    thread only, so a lane's requests go out in its order: thread t of n takes lanes t, t + n,
    ... and cycles through them pass by pass (request k of each of its lanes, then k + 1).
    run_wrk passes the thread count to the script (`-- <threads>`)."""
    items = ",\n  ".join(
        "{" + ", ".join(f"function() return {_lua_request(r)} end" for r in lane) + "}"
        for lane in lanes
    )
    return _script(
        count_statuses,
        f"""
local lanes = {{
  {items}
}}
local formatted = {{}}
local index = 0
init = function(args)
  local count = tonumber(args[1]) or 1
  local own = {{}}
  local longest = 0
  for i, lane in ipairs(lanes) do
    if (i - 1) % count == ((thread_id or 1) - 1) % count then
      table.insert(own, lane)
      longest = math.max(longest, #lane)
    end
  end
  for pass = 1, longest do
    for _, lane in ipairs(own) do
      table.insert(formatted, lane[((pass - 1) % #lane) + 1]())
    end
  end
end
request = function()
  index = index + 1
  return formatted[((index - 1) % #formatted) + 1]
end
""",
    )


def script_unique_usernames(prefix: str, password: str, count_statuses: bool) -> str:
    """POST /register/ with a new username on every request (a name is taken only once)."""
    return _script(
        count_statuses,
        f"""
local sequence = 0
local headers = {{["Content-Type"] = "application/json"}}
request = function()
  sequence = sequence + 1
  local body = string.format('{{"username":"%s_%d_%d","password":%s}}',
    {lua_string(prefix)}, thread_id, sequence, {lua_string(json.dumps(password))})
  return wrk.format("POST", "/register/", headers, body)
end
""",
    )


def _script(count_statuses: bool, body: str) -> str:
    """A script: the common setup, result and (when asked) status-counting parts, then body."""
    hook = _RESPONSE_HOOK if count_statuses else ""
    return _COMMON % {"marker": RESULT_MARKER, "response_hook": hook} + body


def run_wrk(
    url: str,
    script: str,
    *,
    duration_s: float,
    connections: int,
    threads: int,
    timeout_s: float,
    expected_status: int,
) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        script_path = Path(handle.name)
    try:
        completed = subprocess.run(
            [
                ensure_wrk(),
                "--latency",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(duration_s))}s",
                f"--timeout={max(1, round(timeout_s))}s",
                "-s",
                str(script_path),
                url,
                "--",
                str(threads),  # for scripts that share work out among threads (script_lanes)
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=duration_s + timeout_s + 60,
        )
    finally:
        script_path.unlink(missing_ok=True)
    line = next((x for x in completed.stdout.splitlines() if x.startswith(RESULT_MARKER)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")
    raw = json.loads(line[len(RESULT_MARKER) :])
    statuses = {int(k): v for k, v in raw["statuses"].items()}
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    if statuses:
        unexpected = sum(n for status, n in statuses.items() if status != expected_status)
    else:
        # wrk counts every status >= 400 as an error; expected statuses are all < 400 here.
        unexpected = raw["status"]
    duration_s_measured = raw["duration_us"] / 1e6
    return WrkResult(
        requests=raw["requests"],
        duration_s=duration_s_measured,
        requests_per_s=raw["requests"] / duration_s_measured if duration_s_measured else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        socket_errors=socket_errors,
        unexpected_status=unexpected,
        status_counts=statuses,
    )
