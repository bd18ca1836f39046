"""The workloads every benchmark shares: one workflow shape, written as Argo YAML."""

from __future__ import annotations

STEPS = 10


def sequential_yaml(
    command: str = "true", *, steps: int = STEPS, name: str = "bench", cleanup: str | None = None
) -> str:
    """`steps` sequential steps, each running `command`, plus an `onExit` cleanup step running
    `cleanup` (default: `command`). Commands are split on spaces; no quoting.

    The same shape as the DBOS peer: ten steps in a row, then a cleanup in `finally`.
    """
    argv = _argv(command)
    cleanup_argv = _argv(cleanup if cleanup is not None else command)
    lines = [
        "apiVersion: argoproj.io/v1alpha1",
        "kind: Workflow",
        "metadata:",
        f"  generateName: {name}-",
        "spec:",
        "  entrypoint: main",
        "  onExit: cleanup",
        "  templates:",
        "    - name: main",
        "      steps:",
    ]
    for i in range(steps):
        lines.append(f"        - - name: s{i}")
        lines.append("            template: step")
    lines += [
        "    - name: step",
        "      container:",
        "        image: alpine:latest",
        f"        command: [{argv}]",
        "    - name: cleanup",
        "      container:",
        "        image: alpine:latest",
        f"        command: [{cleanup_argv}]",
        "",
    ]
    return "\n".join(lines)


def _argv(command: str) -> str:
    return ", ".join(f'"{part}"' for part in command.split())


def chain_yaml(n: int) -> str:
    """A DAG of `n` tasks in a line: t{i} depends on t{i-1}."""
    lines = [*_head("chain"), "      dag:", "        tasks:"]
    for i in range(n):
        lines += [f"          - name: t{i}", "            template: step"]
        if i:
            lines.append(f"            dependencies: [t{i - 1}]")
    return "\n".join(lines + _step())


def steps_yaml(n: int) -> str:
    """A steps template of `n` groups of one step each, in sequence."""
    lines = [*_head("steps"), "      steps:"]
    for i in range(n):
        lines += [f"        - - name: s{i}", "            template: step"]
    return "\n".join(lines + _step())


def fanin_yaml(n: int) -> str:
    """A DAG of `n - 1` independent tasks and one join task listing all of them in
    `dependencies` (the shape of issue 10's fan-in)."""
    lines = [*_head("fanin"), "      dag:", "        tasks:"]
    for i in range(n - 1):
        lines += [f"          - name: t{i}", "            template: step"]
    deps = ", ".join(f"t{i}" for i in range(n - 1))
    lines += [
        "          - name: join",
        "            template: step",
        f"            dependencies: [{deps}]",
    ]
    return "\n".join(lines + _step())


#: node-growth shapes by name (see bench_nodes).
SHAPES = {"chain": chain_yaml, "steps": steps_yaml, "fanin": fanin_yaml}


def _head(name: str) -> list[str]:
    return [
        "apiVersion: argoproj.io/v1alpha1",
        "kind: Workflow",
        "metadata:",
        f"  generateName: {name}-",
        "spec:",
        "  entrypoint: main",
        "  templates:",
        "    - name: main",
    ]


def _step() -> list[str]:
    return [
        "    - name: step",
        "      container:",
        "        image: alpine:latest",
        '        command: ["true"]',
        "",
    ]
