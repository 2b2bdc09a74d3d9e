"""`python -m bench.peers`: N checks/s of `check_dummy 0 ok` through ogi, Nagios 4 and Icinga 2.

Issue 17's workload, the same for the three systems: N checks, each run every second, of
`/usr/lib/nagios/plugins/check_dummy 0 ok` (`--command` to change it). Each system is started
by the benchmark as its child on loopback with a generated config in a temporary directory
(ogi: `ogi run`, bench/peer_ogi.py; Nagios 4: Debian's /usr/sbin/nagios4, bench/peer_nagios.py;
Icinga 2: Debian's /usr/sbin/icinga2, bench/peer_icinga.py), warmed up for `--warmup` seconds,
measured for `--seconds` (a window starting on a whole second), and stopped. The systems run
one after another, for every N of `--rates`, `--rounds` times.

Per system and N: the sustained rate (results counted in the window per second), the CPU of
the daemon and every process below it from /proc (utime + stime + cutime + cstime summed over
the live process tree at both ends of the window; bench/peer_run.py) per result, and the
result latency p50/p99, which each system lets us see differently (each module's docstring
says how; `latency` in the JSON repeats it). A system whose binary is missing is reported as
not run. A benchmark, not a test: it prints JSON, then the markdown table, and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from bench import peer_icinga, peer_nagios, peer_ogi
from bench.peer_run import PLUGIN_COMMAND, PeerFailed

#: By name, in the table's column order (issue 17's).
SYSTEMS: dict[str, ModuleType] = {"ogi": peer_ogi, "icinga2": peer_icinga, "nagios4": peer_nagios}


def _span(values: Sequence[float], fmt: str) -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if fmt.format(low) == fmt.format(high) else f"{fmt.format(low)}–{fmt.format(high)}"


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def _ms_span(values: Sequence[float]) -> str:
    low, high = _ms(min(values)), _ms(max(values))
    return low if low == high else f"{low}–{high}"


def cell(rows: Sequence[dict[str, Any]]) -> str:
    """One system at one N over the rounds: '590–600/s, 1.15–1.18 ms CPU; p50 …, p99 … ms'."""
    failed = [r["error"] for r in rows if "error" in r]
    done = [r for r in rows if "error" not in r and r["results"]]
    if not done:
        return f"not run: {failed[0]}" if failed else "no results"
    text = _span([r["rate_per_s"] for r in done], "{:,.0f}") + "/s, "
    text += _span([r["cpu_ms_per_check"] for r in done], "{:.2f}") + " ms CPU per check; "
    text += f"p50 {_ms_span([r['latency_p50_ms'] for r in done])} ms, p99 {_ms_span([r['latency_p99_ms'] for r in done])} ms"
    if failed:
        text += f" ({len(failed)} round(s) failed: {failed[0]})"
    return text


def _label(system: dict[str, Any]) -> str:
    return f"{system['label']} ({system['version']})" if system["version"] else system["label"]


def table(report: dict[str, Any]) -> str:
    """The markdown table of a report: one row per N, one column per system."""
    systems = report["systems"]
    names = [name for name in SYSTEMS if name in systems]
    header = ["N checks/s asked"] + [_label(systems[n]) for n in names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    command = report["workload"]["command"]
    suffix = "" if command == PLUGIN_COMMAND else f" of `{command}`"
    for asked in report["workload"]["rates"]:
        cells = []
        for name in names:
            rows = [r for r in systems[name]["runs"] if r["asked_per_s"] == asked]
            cells.append(cell(rows))
        lines.append(f"| {asked:,}{suffix} | " + " | ".join(cells) + " |")
    load = report["machine"]
    lines.append("")
    lines.append(f"{load['cpus']} CPUs; load average (1/5/15 min) {load['loadavg_start']} at the start, "
                 f"{load['loadavg_end']} at the end; {report['workload']['warmup_s']:g} s warm-up, "
                 f"{report['workload']['window_s']} s measured, {report['workload']['rounds']} round(s).")
    return "\n".join(lines)


def _loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def run(systems: Sequence[str], rates: Sequence[int], warmup: float, seconds: int, rounds: int,
        command: str = PLUGIN_COMMAND) -> dict[str, Any]:
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "loadavg_start": _loadavg()},
        "workload": {"command": command, "interval_s": 1, "rates": list(rates), "warmup_s": warmup,
                     "window_s": seconds, "rounds": rounds},
        "systems": {},
    }
    present = []
    for name in systems:
        module = SYSTEMS[name]
        missing = module.available()
        report["systems"][name] = {"label": module.NAME, "version": "" if missing else module.version(),
                                   "latency": module.LATENCY, "runs": []}
        if missing:
            report["systems"][name]["runs"] = [{"asked_per_s": n, "error": missing} for n in rates]
        else:
            present.append(name)
    for round_number in range(1, rounds + 1):
        for n in rates:
            for name in present:
                module = SYSTEMS[name]
                print(f"round {round_number}: {module.NAME} at {n}/s", file=sys.stderr, flush=True)
                try:
                    result = module.measure(n, warmup, seconds, command)
                except PeerFailed as failure:
                    result = {"asked_per_s": n, "error": str(failure).splitlines()[0]}
                result["round"] = round_number
                report["systems"][name]["runs"].append(result)
    report["machine"]["loadavg_end"] = _loadavg()
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", default="600,1000,2000", help="N checks per second, comma-separated")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before each window")
    parser.add_argument("--seconds", type=int, default=60, help="seconds measured per system and N")
    parser.add_argument("--rounds", type=int, default=2, help="times the whole sequence runs")
    parser.add_argument("--systems", default="ogi,nagios4,icinga2", help=f"of {','.join(SYSTEMS)}")
    parser.add_argument("--command", default=PLUGIN_COMMAND, help="the check every system runs (plain words)")
    args = parser.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; known: {', '.join(SYSTEMS)}")
    try:
        rates = [int(n) for n in args.rates.split(",")]
    except ValueError:
        parser.error(f"--rates takes whole numbers separated by commas, not {args.rates!r}")
    if min(rates) < 1 or args.seconds < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--rates, --seconds and --rounds must be at least 1, --warmup not negative")
    report = run(systems, rates, args.warmup, args.seconds, args.rounds, args.command)
    print(json.dumps(report, indent=2))
    print()
    print(table(report))


if __name__ == "__main__":
    main()
