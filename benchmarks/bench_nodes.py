"""Cost per node as a workflow grows: one workflow of N nodes under the simulate executor.

Shapes (`workloads.SHAPES`): `chain` (a DAG of N tasks in a line), `steps` (N sequential step
groups) and `fanin` (N - 1 independent DAG tasks and one join listing them all). For each shape
and each size in `Sizes.nodes` the figure is milliseconds per node = wall time from submission
to the final phase ÷ N; `node_cost_ratio_<shape>` is the per-node time at the largest size ÷ at
the smallest (1.0 = flat; issue 10 asks ≤ 1.5 for 10,000 ÷ 200), computed per run.

Sizes above `ONE_RUN_ABOVE` nodes are measured once (their runs take minutes each while the
cost still grows); their ratio divides that one figure by the median of the smallest size
(pairing it with one run would let one outlier decide).
"""

from __future__ import annotations

import os
import statistics

from .bench_workflows import run_workflows
from .common import Figure, Sizes, ratio_values
from .workloads import SHAPES

#: sizes above this are measured once, not `Sizes.runs` times.
ONE_RUN_ABOVE = 2_000


async def per_node_ms(shape: str, n: int, workdir: str, tag: str) -> float:
    path = os.path.join(workdir, f"nodes-{shape}-{n}-{tag}.db")
    text = SHAPES[shape](n)
    wf_per_s = await run_workflows(path, 1, 1, executor="simulate", text=text)
    return 1000.0 / wf_per_s / n


async def run(sizes: Sizes, workdir: str) -> list[Figure]:
    figures: list[Figure] = []
    small, large = min(sizes.nodes), max(sizes.nodes)
    for shape in SHAPES:
        by_n: dict[int, Figure] = {}
        for n in sorted(sizes.nodes):
            fig = Figure(
                f"node_ms_{shape}_{n}",
                f"{shape}, {n:,} nodes (simulate), per node",
                "ms",
                better="lower",
            )
            runs = 1 if n > ONE_RUN_ABOVE else sizes.runs
            for i in range(runs):
                fig.values.append(await per_node_ms(shape, n, workdir, str(i)))
            by_n[n] = fig
            figures.append(fig)
        figures.append(
            Figure(
                f"node_cost_ratio_{shape}",
                f"  {shape}: per-node time at {large:,} ÷ at {small:,}",
                "x",
                _ratios(by_n[large].values, by_n[small].values),
                better="lower",
                target=1.5,
            )
        )
    return figures


def _ratios(large: list[float], small: list[float]) -> list[float]:
    """Per-run ratios when both sizes ran as often; else each large run ÷ the small median."""
    if len(large) == len(small):
        return ratio_values(large, small)
    base = statistics.median(small)
    return [x / base for x in large] if base else []
