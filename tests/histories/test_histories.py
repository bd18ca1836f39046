"""Golden histories: runs recorded by an earlier engine must keep replaying (see README.md).

For each `NAME.bundle`: the fold of its events gives exactly the state recorded beside it
(`NAME.status.json`), and the current reconciler re-derives every recorded decision byte for byte
(`engine.audit.rederive`). A change of decisions that breaks old runs fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.audit.bundle import read_bundle
from engine.audit.rederive import rederive
from engine.audit.source import decode_all
from engine.state.fold import fold
from engine.state.report import workflow_json
from tests.helpers import exitflow

HERE = Path(__file__).resolve().parent
BUNDLES = sorted(HERE.glob("*.bundle"))


def test_there_are_golden_histories() -> None:
    assert len(BUNDLES) >= 10


@pytest.mark.parametrize("path", BUNDLES, ids=[p.stem for p in BUNDLES])
@pytest.mark.anyio
async def test_history_folds_and_rederives(path: Path) -> None:
    bundle = read_bundle(str(path))
    (head,) = await bundle.heads()
    uid = head.record.uid
    events = decode_all(head.record.name, await bundle.events(uid))
    view = fold(events)
    assert view.finished
    expected = json.loads(path.with_suffix(".status.json").read_text())
    assert workflow_json(view) == expected
    result = rederive(events, await bundle.logs(uid))
    assert result.divergence is None, f"{path.name}: {result.divergence}"
    assert result.decisions > 0


def test_a_history_verifies_with_the_cli() -> None:
    res = exitflow("verify", str(HERE / "crash-recovered.bundle"))
    assert res.code == 0, res.stderr
    assert "rederive" in res.stdout
