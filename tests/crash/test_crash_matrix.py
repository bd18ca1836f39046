"""Crash the controller at every event boundary of every example and of the workflows in
tests/crash/workflows, then recover, and check the guarantee (engine.crashtest's verdict).

- every boundary with `--executor simulate` (fast; failures come from --simulate-fail);
- every boundary with the local executor (real processes) for a representative subset;
- one real SIGKILL from outside per workflow (local executor, processes and all).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.crashtest import CrashtestReport, run_crashtest
from tests.helpers import EXAMPLES

HERE = Path(__file__).resolve().parent
WORKFLOWS = sorted((HERE / "workflows").glob("*.yaml"))
ALL = sorted(EXAMPLES.glob("*.yaml")) + WORKFLOWS

#: What the simulate executor must fail so the simulated run takes the same paths as the real one.
SIMULATE_FAIL: dict[str, list[str]] = {
    "dag-exit-handlers": ["run-task"],
    "hooks-step-level": ["flaky=2"],
    "retry-backoff": ["flaky(0)", "flaky(1)"],
    "retry-exhausted": ["flaky(0)=3", "flaky(1)=3", "flaky(2)=3"],
    "onexit-steps-template": ["work"],
    "cleanup-starts-recovery": ["work"],
    "failing-exit-handler": ["onExit=4"],
    "hooks-mixed": ["B"],
    "nested-dag-in-steps": ["y"],
    "step-timeout-continue": ["slow"],
}
PARAMETERS: dict[str, list[str]] = {"dag-exit-handlers": ["should-fail=true"]}

#: Every boundary with real processes (each boundary is a few seconds of real work).
LOCAL_FULL = {
    "onexit-cleanup": ("after", "before"),
    "deadline": ("after",),
    "onexit-steps-template": ("after",),
}


def _explain(report: CrashtestReport) -> str:
    lines = [f"{report.file} ({report.executor}): clean {report.clean.phase}"]
    for b in report.failed:
        lines.append(f"  {b.boundary} [{b.label}] -> {b.phase}: {'; '.join(b.reasons)}")
    return "\n".join(lines)


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_every_boundary_simulated(path: Path) -> None:
    report = run_crashtest(
        str(path),
        executor="simulate",
        simulate_fail=SIMULATE_FAIL.get(path.stem, []),
        parameters=PARAMETERS.get(path.stem, []),
    )
    assert report.boundaries, "no boundaries were tested"
    assert len(report.boundaries) == report.clean.events
    assert report.ok, _explain(report)
    # Most boundaries really crashed the controller (the last ones may end the run first).
    assert sum(b.crashed for b in report.boundaries) >= report.clean.events - 1
    # Handlers that ran work in the clean run (a handler whose steps were all skipped, such as
    # the notifier of a run that Succeeded, has nothing to run again).
    owed = [h for h, phase in report.clean.exit_phases.items()
            if phase != "Skipped" and report.clean.exit_runs.get(h, 0) > 0]
    for b in report.boundaries:
        for handler in owed:
            assert b.exit_runs.get(handler, 0) >= 1, (b.boundary, handler, b.exit_runs)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LOCAL_FULL))
def test_every_boundary_with_real_processes(name: str) -> None:
    path = next(p for p in ALL if p.stem == name)
    report = run_crashtest(str(path), executor="local", when=LOCAL_FULL[name])
    assert report.ok, _explain(report)
    # Somewhere a crash caught an exit handler in flight: it was delivered again.
    assert any(n > 1 for b in report.boundaries for n in b.exit_runs.values()), [
        (b.boundary, b.exit_runs) for b in report.boundaries
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_real_kill_from_outside(path: Path) -> None:
    """SIGKILL the controller from outside (no injection point) once half of the clean run's
    events are in the log, then recover."""
    probe = run_crashtest(
        str(path), executor="simulate", simulate_fail=SIMULATE_FAIL.get(path.stem, []),
        parameters=PARAMETERS.get(path.stem, []), boundaries=[],
    )
    middle = max(2, probe.clean.events // 2)
    report = run_crashtest(
        str(path), executor="local", parameters=PARAMETERS.get(path.stem, []),
        boundaries=[], kill=[middle],
    )
    assert [b.when for b in report.boundaries] == ["kill"]
    (b,) = report.boundaries
    assert b.crashed, f"the run ended before the kill at {middle} events"
    assert b.committed >= middle
    assert report.ok, _explain(report)


@pytest.mark.slow
def test_real_kill_of_a_python_m_engine_run() -> None:
    """The most literal form: `python -m engine run` processes, killed from outside."""
    path = EXAMPLES / "dag-exit-handlers.yaml"
    report = run_crashtest(
        str(path), executor="local", parameters=["should-fail=true"], boundaries=[],
        kill=[4, 9, 14], isolation="subprocess",
    )
    assert all(b.crashed for b in report.boundaries), report.boundaries
    assert report.ok, _explain(report)
