"""Run the Argo example corpus through the real CLI, in parallel, and judge each run.

Each supported example runs as `python -m engine run FILE --db <tmp> -o json --executor X` in
its own subprocess; a thread pool runs several at once. With the local executor,
`tests/conformance/bin` (argosay, cowsay, python) is put first on PATH for those subprocesses only;
with the Docker executor the images made by `.ci/setup-docker.sh` are the stand-ins.

The local executor has no private filesystem: examples that write the same absolute path (e.g.
`/tmp/out.txt`) would overwrite each other's files, so two examples sharing such a path never run
at the same time (one lock per path, taken in sorted order). Containers have their own
filesystems, so the Docker executor needs no such locks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conformance.expectations import ANY, EXAMPLES, REJECTED, SKIPPED, SUCCEEDED, Example
from tests.helpers import ARGO_EXAMPLES, ROOT, phases

BIN = Path(__file__).resolve().parent / "bin"
#: Seconds one example may take before it counts as failed (hung).
EXAMPLE_TIMEOUT = float(os.environ.get("EXITFLOW_CONFORMANCE_TIMEOUT", "150"))
WORKERS = int(os.environ.get("EXITFLOW_CONFORMANCE_WORKERS", "8"))
#: Examples run at once under the Docker executor. Most of their time is `sleep`s, so 6 workers
#: are fine for the daemon; the corpus takes ~160s on 2 cores (~200s with 4 workers).
DOCKER_WORKERS = int(os.environ.get("EXITFLOW_CONFORMANCE_DOCKER_WORKERS", "6"))
EXECUTORS = ("local", "docker")
_ABS_PATH = re.compile(r"/tmp/[A-Za-z0-9_.-]+")


@dataclass
class Outcome:
    example: Example
    status: str  # "pass" | "fail" | "unsupported"
    detail: str = ""
    seconds: float = 0.0
    workflow_phase: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def corpus_files(corpus: Path = ARGO_EXAMPLES) -> list[str]:
    return sorted(str(p.relative_to(corpus)) for p in corpus.rglob("*.yaml"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("EXITFLOW_CRASH_AT", None)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _matches(got: str | None, want: str | tuple[str, ...]) -> bool:
    if got is None:
        return False
    if want == ANY:
        return True
    return got in want if isinstance(want, tuple) else got == want


def judge(example: Example, code: int, stdout: str, stderr: str) -> tuple[bool, str, str]:
    """(passed, why not, workflow phase) for one finished CLI run."""
    if example.phase == REJECTED:
        if code == 2:
            return True, "", REJECTED
        return False, f"expected the CLI to reject the file (exit 2), got exit {code}", ""
    try:
        wf: dict[str, Any] = json.loads(stdout)
    except ValueError:
        tail = stderr.strip().splitlines()[-1:] or [""]
        return False, f"no JSON (exit {code}): {tail[0][:200]}", ""
    got_phase = str(wf["status"]["phase"])
    problems: list[str] = []
    assert example.phase is not None
    if not _matches(got_phase, example.phase):
        msg = wf["status"].get("message", "")
        problems.append(f"workflow {got_phase} (want {example.phase}) {msg}".strip())
    got = phases(wf)
    name = str(wf["metadata"]["name"])
    # Children of a retried root node are `<wf>(0)`, `<wf>(1)`…: shown as "@root(0)"…
    got.update(
        {"@root" + k[len(name) :]: v for k, v in list(got.items()) if k.startswith(name + "(")}
    )
    messages = {n["displayName"]: n.get("message", "") for n in wf["status"]["nodes"].values()}
    for name, want in example.nodes.items():
        if not _matches(got.get(name), want):
            problems.append(
                f"{name}: {got.get(name)} (want {want}) {messages.get(name, '')}".strip()
            )
    for name in example.absent:
        if name in got:
            problems.append(f"{name} exists (must not be created)")
    for group in example.one_skipped:
        states = [got.get(n) for n in group]
        if states.count(SKIPPED) != 1 or states.count(SUCCEEDED) != len(group) - 1:
            problems.append(f"exactly one of {group} must be Skipped: {states}")
    return not problems, "; ".join(problems), got_phase


def run_example(example: Example, corpus: Path = ARGO_EXAMPLES, executor: str = "local") -> Outcome:
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}")
    if not example.supported:
        return Outcome(example, "unsupported", example.unsupported or "")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="exitflow-conformance-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "engine",
            "run",
            str(corpus / example.path),
            "--db",
            str(Path(tmp) / "run.db"),
            "-o",
            "json",
            *(["--executor", executor] if executor != "local" else []),
            *example.args,
        ]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=EXAMPLE_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            return Outcome(
                example, "fail", f"timed out after {EXAMPLE_TIMEOUT:.0f}s", time.monotonic() - start
            )
    ok, why, wf_phase = judge(example, proc.returncode, proc.stdout, proc.stderr)
    return Outcome(example, "pass" if ok else "fail", why, time.monotonic() - start, wf_phase)


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _path_locks(example: Example, corpus: Path) -> list[threading.Lock]:
    try:
        text = (corpus / example.path).read_text(encoding="utf-8")
    except OSError:
        return []
    paths = sorted(set(_ABS_PATH.findall(text)))
    with _locks_guard:
        return [_locks.setdefault(p, threading.Lock()) for p in paths]


def _run_locked(example: Example, corpus: Path, executor: str) -> Outcome:
    locks = _path_locks(example, corpus) if example.supported and executor == "local" else []
    for lock in locks:
        lock.acquire()
    try:
        return run_example(example, corpus, executor)
    finally:
        for lock in reversed(locks):
            lock.release()


def run_all(
    examples: Iterable[Example] = EXAMPLES,
    *,
    corpus: Path = ARGO_EXAMPLES,
    workers: int | None = None,
    progress: Callable[[Outcome], None] | None = None,
    executor: str = "local",
) -> list[Outcome]:
    """Run every example (slowest first) under `executor`; outcomes in the order given.

    `workers` defaults to WORKERS (local) or DOCKER_WORKERS (docker)."""
    if workers is None:
        workers = DOCKER_WORKERS if executor == "docker" else WORKERS
    todo = list(examples)
    order = sorted(range(len(todo)), key=lambda i: -todo[i].seconds)
    results: dict[int, Outcome] = {}
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        futures = {i: pool.submit(_run_locked, todo[i], corpus, executor) for i in order}
        for i in order:
            results[i] = futures[i].result()
            if progress is not None:
                progress(results[i])
    return [results[i] for i in range(len(todo))]


def pass_rate(outcomes: Iterable[Outcome]) -> tuple[int, int]:
    """(passed, supported) over the outcomes."""
    ran = [o for o in outcomes if o.status != "unsupported"]
    return sum(o.passed for o in ran), len(ran)


__all__ = [
    "EXAMPLES",
    "EXECUTORS",
    "Outcome",
    "corpus_files",
    "judge",
    "pass_rate",
    "run_all",
    "run_example",
]
