"""For random workflows: export -> import -> verify passes, and replaying the imported run at
every sequence number gives the same states as the original."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.audit.bundle import write_bundle
from engine.audit.importer import import_bundle
from engine.audit.replay import walk
from engine.audit.source import decode_all, open_source
from engine.audit.verify import verify
from engine.state.report import workflow_json
from engine.store import SqliteStore

from .runs import run_text


@st.composite
def workflows(draw: st.DrawFn) -> tuple[str, dict[str, int], dict[str, str]]:
    """A DAG of 1-5 tasks with random dependencies, failures, retries and exit handler."""
    n = draw(st.integers(1, 5))
    lines = ["apiVersion: argoproj.io/v1alpha1", "kind: Workflow",
             "metadata:", "  generateName: prop-", "spec:", "  entrypoint: main"]
    if draw(st.booleans()):
        lines.append("  onExit: bye")
    lines += ["  templates:", "    - name: main", "      dag:", "        tasks:"]
    for i in range(n):
        lines += [f"          - name: t{i}", "            template: work"]
        deps = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=2)) if i else []
        if deps:
            lines.append(f"            dependencies: [{', '.join(f't{d}' for d in deps)}]")
    lines += ["    - name: work", "      container:", "        image: alpine:latest",
              "        command: [echo, hi]"]
    limit = draw(st.sampled_from([None, 1, 2]))
    if limit is not None:
        lines += ["      retryStrategy:", f"        limit: {limit}"]
    lines += ["    - name: bye", "      container:", "        image: alpine:latest",
              "        command: [echo, bye]"]
    names = [f"t{i}" for i in range(n)]
    fail = {k: draw(st.integers(1, 9)) for k in draw(st.lists(st.sampled_from(names),
                                                             unique=True, max_size=2))}
    results = {k: draw(st.text("abc\n", max_size=6)) for k in
               draw(st.lists(st.sampled_from(names), unique=True, max_size=2))}
    return "\n".join(lines) + "\n", fail, results


async def states(path: Path) -> list[dict[str, object]]:
    source = await open_source(str(path))
    try:
        [head] = await source.heads()
        events = decode_all(head.record.name, await source.events(head.record.uid))
    finally:
        await source.aclose()
    return [workflow_json(view) for _, view in walk(events)]


async def roundtrip(tmp: Path, text: str, fail: dict[str, int], results: dict[str, str]) -> None:
    original, bundle, imported = tmp / "a.db", tmp / "run.bundle", tmp / "b.db"
    view = await run_text(original, text, fail=fail, results=results)
    assert view.finished
    source = await open_source(str(original))
    try:
        await write_bundle(source, await source.heads(), str(bundle))
    finally:
        await source.aclose()
    async with await SqliteStore.open(imported) as store:
        await import_bundle(str(bundle), store)
    target = await open_source(str(imported))
    try:
        report = await verify(target)
    finally:
        await target.aclose()
    assert report.ok, report.findings
    assert report.runs[0].decisions > 0
    assert await states(imported) == await states(original)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows())
def test_export_import_verify_replay(case: tuple[str, dict[str, int], dict[str, str]]) -> None:
    text, fail, results = case
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(roundtrip, Path(tmp), text, fail, results)
