"""Re-derivation: a log whose chain was forged consistently still fails when the current engine
would have decided differently; recovery runs (lost attempts) re-derive cleanly."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import anyio
import msgspec
import pytest

from engine.audit.bundle import read_bundle
from engine.audit.rederive import rederive
from engine.audit.source import decode_all
from engine.audit.verify import verify
from engine.events import WorkflowCompleted, decode, encode
from engine.store.base import GENESIS_HASH, chain_hash
from tests.helpers import EXAMPLES, exitflow

from .runs import cli

pytestmark = pytest.mark.anyio


def test_forged_final_phase_is_a_divergence(base_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "run.bundle"
    name = cli("list", "--db", str(base_db), "-o", "name").stdout.split()[0]
    assert cli("export", name, "--db", str(base_db), "-o", str(path)).code == 0
    records = [json.loads(line) for line in path.read_text().splitlines()]
    events = [r for r in records if r.get("record") == "event"]
    last = decode(base64.b64decode(events[-1]["payload"]))
    assert isinstance(last, WorkflowCompleted) and last.phase == "Succeeded"
    events[-1]["payload"] = base64.b64encode(
        encode(msgspec.structs.replace(last, phase="Failed"))).decode()
    prev = GENESIS_HASH
    for e in events:  # a consistent forgery: every hash recomputed, the head too
        e["hash"] = prev = chain_hash(prev, base64.b64decode(e["payload"]))
    workflow = records[1]
    workflow["head_hash"], workflow["phase"] = prev, "Failed"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = anyio.run(verify, read_bundle(str(path)))
    checks = {f.check: f for f in report.findings}
    assert "chain" not in checks and "fold" not in checks
    found = checks["rederive"]
    assert found.seq == len(events)
    assert "phase: log 'Failed', engine 'Succeeded'" in found.message


async def test_recovered_run_rederives(tmp_path: Path) -> None:
    """A controller killed after the 6th event; `recover` finishes the run with lost attempts."""
    db = tmp_path / "crash.db"
    crashed = exitflow("run", str(EXAMPLES / "dag-exit-handlers.yaml"), "--db", str(db),
                       env={"EXITFLOW_CRASH_AT": "6"})
    assert crashed.code == 137
    assert exitflow("recover", "--db", str(db)).code == 0
    from engine.audit.source import open_source

    src = await open_source(str(db))
    try:
        [head] = await src.heads()
        raw = await src.events(head.record.uid)
        events = decode_all(head.record.name, raw)
        result = rederive(events, await src.logs(head.record.uid))
        report = await verify(src)
    finally:
        await src.aclose()
    assert any(type(e).__name__ == "NodeAttemptLost" for e in events)
    assert result.divergence is None and result.decisions >= 3
    assert report.ok, report.findings
