"""Run every benchmark, print one table, optionally write the figures as JSON.

    python -m benchmarks [--quick] [--json FILE] [--only NAME ...] [--keep DIR]

Each figure is the median of `runs` (3) repetitions with their min–max; ratios are computed per
run from figures measured back to back in the same run, and only ratios should be compared
across machines. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from . import (
    bench_append,
    bench_nodes,
    bench_postgres,
    bench_process,
    bench_replay,
    bench_workflows,
)
from .common import FULL, QUICK, SIZES, Figure, Sizes

Bench = Callable[[Sizes, str], Any]

#: name -> (what it measures, function). Async functions are awaited.
BENCHES: dict[str, Bench] = {
    "append": bench_append.run,
    "simulate": bench_workflows.simulate,
    "local": bench_workflows.local,
    "replay": bench_replay.run,
    "recovery": bench_process.recovery,
    "latency": bench_process.exit_latency,
    "rss": bench_process.rss,
    "crashtest": bench_process.crashtest,
    "growth": bench_workflows.growth,
    "postgres": bench_postgres.run,
    "nodes": bench_nodes.run,
}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "x":
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "median", "min–max", "unit", "target", "key")]
    notes: list[str] = []
    for f in figures:
        if f.values:
            spread = f"{_fmt(min(f.values), f.unit)}–{_fmt(max(f.values), f.unit)}"
            median = _fmt(f.median, f.unit)
        else:
            spread, median = "—", "—"
        if f.note:
            notes.append(f"{f.key}: {f.note}")
            spread = f"note {len(notes)}" if not f.values else spread
        target = ""
        if f.target is not None:
            sign = ">=" if f.better == "higher" else "<"
            met = f.met()
            mark = "" if met is None else (" ok" if met else " MISSED")
            target = f"{sign} {_fmt(f.target, f.unit)}{mark}"
        rows.append((f.label, median, spread, f.unit, target, f.key))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        cells = [
            r[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(r[1:3], widths[1:3], strict=True)),
            r[3].ljust(widths[3]),
            r[4].ljust(widths[4]),
            r[5],
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    for n, note in enumerate(notes, 1):
        lines.append(f"note {n}: {note}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        # Other work on the machine skews every figure; ratios less so.
        "loadavg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
    }


async def run_all(
    sizes: Sizes, names: list[str], workdir: str, progress: Callable[[str], None]
) -> list[Figure]:
    figures: list[Figure] = []
    by_key: dict[str, Figure] = {}
    for name in names:
        t0 = time.perf_counter()
        fn = BENCHES[name]
        result = fn(sizes, workdir)
        if asyncio.iscoroutine(result):
            result = await result
        got: list[Figure] = list(result)
        if name == "simulate":
            got += bench_workflows.dbos(sizes, workdir, got[0])
        if name == "growth" and "wf_per_s_simulate" in by_key:
            base = by_key["wf_per_s_simulate"]
            got.insert(
                0,
                Figure(
                    "wf_per_s_simulate_growth_base",
                    "growth: simulate, empty DB (as above)",
                    base.unit,
                    list(base.values),
                ),
            )
        for f in got:
            by_key[f.key] = f
        figures += got
        progress(f"  {name}: {time.perf_counter() - t0:.1f} s")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: under 60 s on 2 cores")
    parser.add_argument(
        "--sizes",
        choices=sorted(SIZES),
        default=None,
        help="size preset (overrides --quick; 'tiny' is for the smoke test)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the figures to FILE as JSON")
    parser.add_argument(
        "--only", nargs="+", choices=list(BENCHES), default=None, help="run only these benchmarks"
    )
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the databases")
    parser.add_argument(
        "--nodes",
        metavar="N,N,...",
        help="workflow sizes of the `nodes` benchmark (default: 200,2000,10000 full; "
        "200,1000 quick)",
    )
    args = parser.parse_args(argv)
    sizes = SIZES[args.sizes] if args.sizes else (QUICK if args.quick else FULL)
    if args.nodes:
        try:
            nodes = tuple(int(x) for x in args.nodes.split(","))
        except ValueError:
            parser.error(f"--nodes: not a comma-separated list of integers: {args.nodes!r}")
        if not nodes or min(nodes) < 2:
            parser.error("--nodes: each size must be at least 2")
        sizes = dataclasses.replace(sizes, nodes=nodes)
    names = args.only or list(BENCHES)

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    workdir = args.keep or tempfile.mkdtemp(prefix="exitflow-bench-")
    os.makedirs(workdir, exist_ok=True)
    progress(f"exitflow benchmarks ({sizes.name}, {sizes.runs} runs each) in {workdir}")
    t0 = time.perf_counter()
    try:
        figures = asyncio.run(run_all(sizes, names, workdir, progress))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    print(table(figures))
    print(f"\n{sizes.name} run, {elapsed:.0f} s; {machine()}")
    if args.json:
        data: dict[str, Any] = {
            "sizes": sizes.name,
            "seconds": round(elapsed, 1),
            "machine": machine(),
            "figures": {},
        }
        for f in figures:
            data[f.key] = f.median
            data["figures"][f.key] = {
                "label": f.label.strip(),
                "unit": f.unit,
                "median": f.median,
                "min": min(f.values) if f.values else None,
                "max": max(f.values) if f.values else None,
                "runs": f.values,
                "note": f.note,
                "target": f.target,
                "met": f.met(),
            }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
