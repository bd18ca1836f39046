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
