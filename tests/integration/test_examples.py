"""Every example in examples/ runs with `exitflow run` and ends as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, exitflow, phases

# example -> (extra args, exit code, workflow phase, {displayName: phase})
EXPECTED: dict[str, tuple[list[str], int, str, dict[str, str]]] = {
    "dag-exit-handlers.yaml": (
        [],
        0,
        "Succeeded",
        {"run-task": "Succeeded", "fail-task": "Skipped", "always-run-cleanup": "Succeeded"},
    ),
    "dag-exit-handlers.yaml#fail": (
        ["-p", "should-fail=true"],
        1,
        "Failed",
        {"run-task": "Failed", "fail-task": "Succeeded", "always-run-cleanup": "Succeeded"},
    ),
    "onexit-cleanup.yaml": ([], 1, "Failed", {"@root": "Failed", "@onExit": "Succeeded"}),
    "hooks-workflow-level.yaml": (
        [],
        0,
        "Succeeded",
        {"step1": "Succeeded", "@hooks.running": "Succeeded", "@onExit": "Succeeded"},
    ),
    "hooks-step-level.yaml": (
        [],
        0,
        "Succeeded",
        {
            "produce": "Succeeded",
            "produce.onExit": "Succeeded",
            "flaky": "Failed",
            "flaky.onExit": "Succeeded",
            "after": "Succeeded",
        },
    ),
    "hooks-task-level.yaml": (
        [],
        0,
        "Succeeded",
        {
            "A": "Succeeded",
            "A.onExit": "Succeeded",
            "B.onExit": "Succeeded",
            "D.onExit": "Succeeded",
            "C": "Succeeded",
            "D": "Succeeded",
        },
    ),
    "cleanup-starts-recovery.yaml": (
        [],
        1,
        "Failed",
        {"@root": "Failed", "@onExit": "Succeeded", "start-recovery": "Succeeded"},
    ),
    "notify-on-failure.yaml": (
        [],
        0,
        "Succeeded",
        {"@root": "Succeeded", "@onExit": "Succeeded", "post-status": "Skipped"},
    ),
    "retry-deadline-exit.yaml": (
        [],
        1,
        "Failed",
        {
            "flaky": "Succeeded",
            "flaky(0)": "Failed",
            "flaky(1)": "Failed",
            "flaky(2)": "Succeeded",
            "slow": "Failed",
            "@onExit": "Succeeded",
        },
    ),
}


def test_every_example_is_covered() -> None:
    files = {p.name for p in EXAMPLES.glob("*.yaml")}
    covered = {k.split("#")[0] for k in EXPECTED}
    assert files == covered


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_example(key: str, tmp_path: Path) -> None:
    args, code, wf_phase, node_phases = EXPECTED[key]
    file = EXAMPLES / key.split("#")[0]
    res = exitflow("run", str(file), "--db", str(tmp_path / "x.db"), "-o", "json", *args)
    assert res.code == code, res.stderr
    wf = res.json()
    assert wf["status"]["phase"] == wf_phase
    got = phases(wf)
    for name, phase in node_phases.items():
        assert got.get(name) == phase, (name, got)
