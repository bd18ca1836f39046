"""The audit commands end to end (real CLI, real files): history, verify, export/import, diff,
prune, and bad input (one line on stderr, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import exitflow

from .runs import cli, sql


def names(db: Path) -> list[str]:
    return [r[0] for r in sql(db, "SELECT name FROM workflows ORDER BY id")]


def test_history_table_json_and_filters(db: Path) -> None:
    name = names(db)[1]  # dag-exit-handlers, run-task failed with exit code 3
    table = cli("history", name, "--db", str(db))
    assert table.code == 0, table.stderr
    assert "WorkflowSubmitted" in table.stdout and "exit code 3" in table.stdout
    rows = cli("history", name, "--db", str(db), "-o", "json").json()
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    lines = cli("history", name, "--db", str(db), "-o", "jsonl", "--node", "run-task",
                     "--kind", "NodeFinished").stdout.splitlines()
    [only] = [json.loads(line) for line in lines]
    assert only["displayName"] == "run-task" and only["event"]["phase"] == "Failed"
    assert only["event"]["outputs"]["exit_code"] == 3


def test_verify_export_import_diff(db: Path, tmp_path: Path) -> None:
    ok = cli("verify", "--db", str(db))
    assert ok.code == 0, ok.stdout + ok.stderr
    assert "database verifies" in ok.stdout
    first, second = names(db)[:2]
    bundle = tmp_path / "run.bundle"
    out = cli("export", first, "--db", str(db), "-o", str(bundle))
    assert out.code == 0, out.stderr
    assert cli("history", str(bundle)).code == 0
    replayed = cli("replay", first, "--db", str(bundle), "--at", "29", "-o", "json")
    assert replayed.json() == cli("get", first, "--db", str(db), "-o", "json").json()
    other = tmp_path / "other.db"
    imported = cli("import", str(bundle), "--db", str(other))
    assert imported.code == 0, imported.stderr
    assert cli("verify", "--db", str(other)).code == 0
    again = cli("import", str(bundle), "--db", str(other))
    assert again.code != 0 and "already has" in again.stderr
    diff = cli("diff", first, second, "--db", str(db), "-o", "json").json()
    assert diff["a"]["phase"] == "Succeeded" and diff["b"]["phase"] == "Failed"
    root, *rest = diff["nodes"]
    assert root["key"] == "@" and root["differs"] == ["phase"]
    assert all(n["differs"] == ["presence"] for n in rest)  # different workflows
    same = cli("diff", str(bundle), str(bundle), "-o", "json").json()
    assert not any(n["differs"] for n in same["nodes"])


def test_verify_names_the_tampered_event_and_exits_1(db: Path, tmp_path: Path) -> None:
    sql(db, "UPDATE events SET payload = payload || x'00' WHERE wf = 2 AND seq = 5")
    out = exitflow("verify", "--db", str(db))
    assert out.code == 1
    name = names(db)[1]
    assert f"[chain] workflow {name}: seq 5 (" in out.stdout
    bundle = tmp_path / "bad.bundle"
    assert cli("export", name, "--db", str(db), "-o", str(bundle)).code == 0
    refused = exitflow("import", str(bundle), "--db", str(tmp_path / "x.db"))
    assert refused.code == 1 and "seq 5" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_prune_keeps_the_rest_verifiable(db: Path) -> None:
    before = names(db)
    last_ts = sql(db, "SELECT MAX(ts) FROM events WHERE wf = 2")[0][0]
    when = f"{last_ts + 0.000001:.6f}"
    dry = cli("prune", "--finished-before", when, "--db", str(db), "--dry-run")
    assert dry.code == 0 and dry.stdout.count("would remove") == 2
    assert names(db) == before
    out = cli("prune", "--finished-before", when, "--db", str(db))
    assert out.code == 0, out.stderr
    assert names(db) == before[2:] and "checkpoint #1" in out.stdout
    ok = cli("verify", "--db", str(db), "-o", "json").json()
    assert ok["ok"], ok["findings"]
    assert "checkpoint seal" in ok["checked"]
    # Prune everything: the chain head survives in the checkpoint and the next run chains on.
    assert cli("prune", "--finished-before", "2999-01-01", "--db", str(db)).code == 0
    assert names(db) == []
    run = cli("run", str(Path(__file__).parents[2] / "examples/onexit-cleanup.yaml"),
                   "--db", str(db), "--executor", "simulate", "-o", "json")
    assert run.code == 0, run.stderr
    assert cli("verify", "--db", str(db)).code == 0
    # A checkpoint that is edited afterwards is found.
    sql(db, "UPDATE checkpoints SET body = replace(body, 'gseq', 'gseq ') WHERE id = 1")
    bad = cli("verify", "--db", str(db))
    assert bad.code == 1 and "checkpoint #1" in bad.stdout


@pytest.fixture(scope="module")
def good_bundle(base_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = tmp_path_factory.mktemp("bundle") / "good.bundle"
    assert exitflow("export", names(base_db)[0], "--db", str(base_db), "-o", str(bundle)).code == 0
    return bundle


@pytest.mark.parametrize("kind", ["truncated", "newer", "not-a-bundle", "cut-header"])
def test_bad_bundles_are_one_line_exit_2(good_bundle: Path, tmp_path: Path, kind: str) -> None:
    bundle = tmp_path / "run.bundle"
    data = good_bundle.read_bytes()
    if kind == "truncated":
        bundle.write_bytes(data[: len(data) * 2 // 3])
    elif kind == "newer":
        bundle.write_bytes(data.replace(b'"format":1', b'"format":99', 1))
    elif kind == "cut-header":
        bundle.write_bytes(data[:20])
    else:
        bundle.write_text("just some notes, not a bundle\n")
    expected = {"truncated": "truncated", "newer": "newer than this Exitflow",
                "not-a-bundle": "not an Exitflow", "cut-header": "not an Exitflow"}[kind]
    for args in (["import", str(bundle), "--db", str(tmp_path / "t.db")],
                 ["verify", "--db", str(bundle)]):
        out = exitflow(*args)
        assert out.code == 2, (args, out.stdout, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert expected in out.stderr, out.stderr
