"""Flip a byte, delete, insert, swap, truncate: in a database and in a bundle, verify names the
event; a clean log verifies."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest

from engine.audit.bundle import read_bundle, write_bundle
from engine.audit.source import open_source
from engine.audit.verify import Report, verify
from engine.store.base import chain_hash

from . import tamper
from .runs import sql

pytestmark = pytest.mark.anyio

# The first run of the base database is the steps workflow (29 events).
CASES: dict[str, tuple[tamper.Tamper, int, str]] = {
    "flip": (lambda rows: tamper.flip(rows, 10), 10, "modified"),
    "delete": (lambda rows: tamper.delete(rows, 12), 12, "removed"),
    "insert": (lambda rows: tamper.insert(rows, 12), 12, "inserted"),
    "swap": (lambda rows: tamper.swap(rows, 14, 16), 14, "reordered"),
    "truncate": (lambda rows: tamper.truncate(rows, 25), 26, "truncated"),
}


async def run_verify(path: Path, name: str | None = None) -> Report:
    source = await open_source(str(path))
    try:
        return await verify(source, name)
    finally:
        await source.aclose()


def db_rows(db: Path) -> list[tamper.Row]:
    return [tamper.Row(s, p, h) for s, p, h in
            sql(db, "SELECT seq, payload, hash FROM events WHERE wf = 1 ORDER BY seq")]


def write_db_rows(db: Path, rows: list[tamper.Row]) -> None:
    """Replace the run's event rows in place, keeping every other column (gseq, ghash...)."""
    old = {r[0]: r for r in sql(db, "SELECT seq, gseq, type, ts, ghash FROM events WHERE wf = 1")}
    sql(db, "DELETE FROM events WHERE wf = 1")
    for row in rows:
        _, gseq, type_, ts, ghash = old.get(row.seq, (row.seq, None, "NodeStarted", 0.0, None))
        if gseq is None:
            gseq = sql(db, "SELECT MAX(gseq) + 1 FROM events")[0][0]
        sql(db, "INSERT INTO events(gseq, wf, seq, type, ts, payload, hash, ghash)"
                " VALUES (?, 1, ?, ?, ?, ?, ?, ?)",
            (gseq, row.seq, type_, ts, row.payload, row.hash, ghash))


async def test_clean_database_and_bundle_verify(db: Path, tmp_path: Path) -> None:
    report = await run_verify(db)
    assert report.ok, report.findings
    assert len(report.runs) == 3
    assert all("rederive" in r.checks and r.decisions > 0 for r in report.runs)
    assert "global chain" in report.checked
    bundle = tmp_path / "run.bundle"
    await export_first(db, bundle)
    report = await run_verify(bundle)
    assert report.ok, report.findings
    assert report.kind == "bundle"


@pytest.mark.parametrize("case", sorted(CASES))
async def test_database_tampering_is_found(db: Path, case: str) -> None:
    change, seq, word = CASES[case]
    write_db_rows(db, change(db_rows(db)))
    report = await run_verify(db)
    assert not report.ok
    chain = [f for f in report.findings if f.check == "chain"]
    assert len(chain) == 1, report.findings
    name = sql(db, "SELECT name FROM workflows WHERE id = 1")[0][0]
    assert chain[0].workflow == name
    assert chain[0].seq == seq, chain[0]
    assert word in chain[0].message, chain[0].message
    assert f"seq {seq}" in chain[0].message
    # The other runs still verify.
    assert sum(r.ok for r in report.runs) == 2


async def test_a_consistent_rewrite_breaks_the_global_chain(db: Path) -> None:
    """Rewrite an event and re-hash the rest of its chain and its head: only the global chain
    (and the re-derivation) can tell."""
    rows = tamper.flip(db_rows(db), 10)
    prev = rows[8].hash
    rehashed = []
    for r in rows:
        if r.seq >= 10:
            r = replace(r, hash=chain_hash(prev, r.payload))
            prev = r.hash
        rehashed.append(r)
    write_db_rows(db, rehashed)
    sql(db, "UPDATE workflows SET head_hash = ? WHERE id = 1", (prev,))
    report = await run_verify(db)
    found = {f.check: f for f in report.findings}
    assert "chain" not in found
    assert found["global"].seq == 10 and "gseq" in found["global"].message


async def test_deleting_a_whole_run_is_found(db: Path) -> None:
    sql(db, "DELETE FROM events WHERE wf = 2")
    sql(db, "DELETE FROM logs WHERE wf = 2")
    sql(db, "DELETE FROM workflows WHERE id = 2")
    report = await run_verify(db)
    assert [f.check for f in report.findings] == ["global"]
    assert "breaks at gseq" in report.findings[0].message


# ------------------------------------------------------------------ bundles


async def export_first(db: Path, path: Path) -> list[dict[str, object]]:
    source = await open_source(str(db))
    try:
        await write_bundle(source, [(await source.heads())[0]], str(path))
    finally:
        await source.aclose()
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_lines(path: Path, records: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.mark.parametrize("case", sorted(CASES))
async def test_bundle_tampering_is_found(db: Path, tmp_path: Path, case: str) -> None:
    path = tmp_path / "run.bundle"
    records = await export_first(db, path)
    events = [r for r in records if r.get("record") == "event"]
    rows = [tamper.Row(int(str(e["seq"])), base64.b64decode(str(e["payload"])), str(e["hash"]))
            for e in events]
    change, seq, word = CASES[case]
    new_events = [
        {"record": "event", "uid": events[0]["uid"], "seq": r.seq, "type": "x", "ts": 0.0,
         "hash": r.hash, "payload": base64.b64encode(r.payload).decode()}
        for r in change(rows)
    ]
    others = [r for r in records if r.get("record") != "event"]
    head, workflow, rest = others[0], others[1], others[2:]
    write_lines(path, [head, workflow, *new_events, *rest])
    report = await run_verify(path)
    chain = [f for f in report.findings if f.check == "chain"]
    assert len(chain) == 1, report.findings
    assert chain[0].seq == seq and word in chain[0].message, chain[0]
    assert any(f.check == "bundle" for f in report.findings) or case in ("flip", "swap")


async def test_swapping_two_event_lines_of_a_bundle_is_found(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "run.bundle"
    await export_first(db, path)
    lines = path.read_text().splitlines()
    lines[5], lines[7] = lines[7], lines[5]  # header, workflow, events 1..: seq 4 and seq 6
    path.write_text("\n".join(lines) + "\n")
    bundle = read_bundle(str(path))
    report = await verify(bundle)
    chain = [f for f in report.findings if f.check == "chain"]
    assert chain and chain[0].seq == 4 and "reordered" in chain[0].message, report.findings
