"""Every Workflow in Argo's example corpus (../shared/argo-examples) loads, and validates unless it
is one of Argo's deliberately invalid inputs or uses a feature the engine cannot run."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]

from engine.errors import SpecError
from engine.spec import dump_json, load_file, load_json, unsupported_features, validate

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("EXITFLOW_ARGO_EXAMPLES", ROOT.parent / "shared" / "argo-examples"))


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _kind(path: Path) -> str | None:
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if isinstance(doc, dict) and doc.get("kind") == "Workflow":
            return "Workflow"
    docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    first = docs[0] if docs else None
    return str(first.get("kind")) if isinstance(first, dict) else None


FILES = _corpus_files()
WORKFLOWS = [p for p in FILES if _kind(p) == "Workflow"]
NOT_WORKFLOWS = [p for p in FILES if _kind(p) != "Workflow"]

# Argo's own negative inputs: they must fail validation with this message.
EXPECTED_INVALID = {
    "e2e/expectedfailures/misreference-template-name.yaml": "unknown template 'hell0'",
    "e2e/expectedfailures/empty-parameter-dag.yaml": "input parameter 'message'",
    "e2e/expectedfailures/empty-parameter-steps.yaml": "input parameter 'message'",
}


def _rel(p: Path) -> str:
    return p.relative_to(CORPUS).as_posix()


def _require_corpus() -> None:
    if not FILES:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Argo example corpus missing at {CORPUS} (required under CI=true)")
        pytest.skip(f"Argo example corpus not found at {CORPUS}")


def test_corpus_present_and_non_workflows_reported() -> None:
    _require_corpus()
    assert len(WORKFLOWS) > 100
    skipped = sorted(_rel(p) for p in NOT_WORKFLOWS)
    # Reported (pytest -rA / -s shows it); these are WorkflowTemplates or kind-less test data.
    print("not kind Workflow, skipped:", ", ".join(skipped))
    assert skipped == [
        "e2e/controller-unit/testdata/steps-failed-retries.yaml",
        "e2e/testdata/fail-first-pass-second.yaml",
        "e2e/testdata/retry-workflow-with-continueon.yaml",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=_rel)
def test_corpus_workflow_loads_and_validates(path: Path) -> None:
    wf = load_file(path)
    assert wf.kind == "Workflow"
    # dump/load round trip keeps everything
    assert load_json(dump_json(wf)) == wf
    rel = _rel(path)
    if rel in EXPECTED_INVALID:
        with pytest.raises(SpecError, match=re.escape(EXPECTED_INVALID[rel])) as ei:
            validate(wf)
        assert ei.value.line is not None
        return
    if "workflowTemplateRef" in unsupported_features(wf):
        return  # its templates live in a WorkflowTemplate we do not have
    validate(wf, check_expression=lambda _text, _path: None)


def _catalog() -> dict[str, str]:
    """file -> k8s-free column, from INDEX.md and EXAMPLES-CATALOG.md tables."""
    out: dict[str, str] = {}
    for name in ("EXAMPLES-CATALOG.md", "INDEX.md"):
        md = CORPUS / name
        if not md.is_file():
            continue
        for line in md.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 3 and cells[0].endswith(".yaml"):
                out.setdefault(cells[0], cells[2])
    return out


# Catalog blockers that the engine deliberately ignores (scheduling/pod settings) rather than
# refusing, so a "NO (...)" with only these may still be runnable.
IGNORED_BLOCKERS = {"nodeSelector", "podGC", "podMetadata", "podSpecPatch", "metrics"}
# Catalog blockers the engine has since learnt to run (issue 13: `http` templates); such an
# example is runnable by unsupported_features, though it may still need the outside network.
SUPPORTED_SINCE = {"http-template", "http template", "http"}


def test_unsupported_features_agree_with_catalog() -> None:
    _require_corpus()
    catalog = _catalog()
    checked = 0
    for path in WORKFLOWS:
        flag = catalog.get(_rel(path))
        if flag is None:
            continue
        found = unsupported_features(load_file(path))
        low = flag.lower()
        if low.startswith("yes"):
            assert found == [], f"{_rel(path)} is runnable per catalog, got {found}"
            checked += 1
        elif low.startswith("no"):
            reasons = {r.strip() for r in re.split(r"[(),;]", flag[2:]) if r.strip()}
            blockers = reasons - IGNORED_BLOCKERS - SUPPORTED_SINCE - {"NO", "no"}
            if blockers and "network" not in low:
                assert found, f"{_rel(path)} needs {reasons}, unsupported_features found nothing"
                checked += 1
    assert checked > 50
