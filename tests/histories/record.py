"""Record the golden histories in this folder (see README.md). Not a test: run it by hand.

    python tests/histories/record.py [--engine DIR] [--rules N] [NAME ...]

Each entry of HISTORIES is run once with the real CLI in a temporary database (a crash entry is
killed at that append by `EXITFLOW_CRASH_AT`, then finished by `exitflow recover`), exported as
`NAME.bundle` and its folded state written as `NAME.status.json`. Runs are submitted under the
reconciler rules given by `--rules` (default 1: the rules of every log recorded before rules
were versioned, which must re-derive forever).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CRASH = "tests/crash/workflows"

#: name -> (workflow file relative to the repository, executor, crash point or None, CLI args)
HISTORIES: dict[str, tuple[str, str, str | None, list[str]]] = {
    "dag-diamond-onexit": (f"{CRASH}/dag-diamond-onexit.yaml", "local", None, []),
    "dag-sequence-when": (f"{CRASH}/dag-sequence-when.yaml", "local", None, []),
    "deadline": (f"{CRASH}/deadline.yaml", "local", None, []),
    "failing-exit-handler": (f"{CRASH}/failing-exit-handler.yaml", "local", None, []),
    "hooks-mixed": (f"{CRASH}/hooks-mixed.yaml", "local", None, []),
    "loop-items": (f"{CRASH}/loop-items.yaml", "local", None, []),
    "nested-dag-in-steps": (f"{CRASH}/nested-dag-in-steps.yaml", "local", None, []),
    "retry-backoff": (f"{CRASH}/retry-backoff.yaml", "local", None, []),
    "retry-exhausted": (f"{CRASH}/retry-exhausted.yaml", "local", None, []),
    "step-timeout-continue": (f"{CRASH}/step-timeout-continue.yaml", "local", None, []),
    "hooks-workflow-level": ("examples/hooks-workflow-level.yaml", "local", None, []),
    # killed after the append that started `produce`: recovery records a lost attempt
    "crash-recovered": (f"{CRASH}/steps-outputs-handlers.yaml", "local", "7:after", []),
    "simulate-failure": (
        f"{CRASH}/steps-outputs-handlers.yaml",
        "simulate",
        None,
        ["--simulate-fail", "produce"],
    ),
}

#: Runs the CLI with the rules version of new runs forced (the only thing a recording changes).
CLI = (
    "import sys, engine.api as api; api.RULES_VERSION = int(sys.argv.pop(1)); "
    "from engine.cli import main; sys.argv[0] = 'exitflow'; main()"
)


ENGINE = ROOT


def cli(
    rules: int, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.pop("EXITFLOW_CRASH_AT", None)
    full["PYTHONPATH"] = str(ENGINE)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", CLI, str(rules), *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=ENGINE,
        timeout=300,
    )


def record(name: str, rules: int) -> None:
    path, executor, crash, extra = HISTORIES[name]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "h.db")
        env = {"EXITFLOW_CRASH_AT": crash} if crash else None
        argv = ["run", str(ROOT / path), "--db", db, "--executor", executor, *extra]
        run = cli(rules, *argv, env=env)
        if crash:
            if run.returncode in (0, 1, 3):
                sys.exit(f"{name}: the run was meant to crash at {crash}: {run.stderr}")
            rec = cli(rules, "recover", "--db", db)
            if rec.returncode != 0:
                sys.exit(f"{name}: recover failed: {rec.stderr}")
        elif run.returncode not in (0, 1, 3):
            sys.exit(f"{name}: run failed ({run.returncode}): {run.stderr}")
        names = cli(rules, "list", "--db", db, "-o", "name").stdout.split()
        assert len(names) == 1, names
        bundle = HERE / f"{name}.bundle"
        exp = cli(rules, "export", names[0], "--db", db, "-o", str(bundle))
        if exp.returncode != 0:
            sys.exit(f"{name}: export failed: {exp.stderr}")
        got = cli(rules, "get", names[0], "--db", db, "-o", "json")
        status = json.loads(got.stdout)
        text = json.dumps(status, indent=1, sort_keys=True) + "\n"
        (HERE / f"{name}.status.json").write_text(text)
        print(f"{name}: {status['status']['phase']}, {len(status['status']['nodes'])} nodes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("names", nargs="*", help="histories to record (default: all)")
    ap.add_argument("--rules", type=int, default=1)
    ap.add_argument(
        "--engine",
        type=Path,
        default=ROOT,
        help="source tree of the engine that records (default: this one)",
    )
    opts = ap.parse_args()
    global ENGINE
    ENGINE = opts.engine.resolve()
    for name in opts.names or list(HISTORIES):
        record(name, opts.rules)


if __name__ == "__main__":
    main()
