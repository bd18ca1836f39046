"""Argo's example corpus (../shared/argo-examples) runs under Exitflow as INDEX.md says.

Every supported example in `expectations.EXAMPLES` runs once, in parallel, with the real CLI and
the local executor (see `runner.py`); each gets its own test judging the final workflow phase and
node phases, and `test_pass_rate` requires >= 90% of the supported examples to pass. Examples in
`expectations.KNOWN_FAILURES` are reported as xfail when they fail (with the reason) and pass
when they pass; either way they count in the pass rate. Without the corpus the tests skip,
except with CI=true where they fail; a corpus without INDEX.md (Argo's own `examples/`, as
scripts/fetch-argo-examples.sh fetches it) skips them too: the expectations are for the curated
snapshot. Both are one line, from the `corpus` marker (tests/conftest.py).
"""

from __future__ import annotations

import pytest

from tests.conformance.expectations import BY_PATH, EXAMPLES, KNOWN_FAILURES, REQUIRED_PASS_RATE
from tests.conformance.runner import Outcome, corpus_files, pass_rate, run_all

pytestmark = [pytest.mark.timeout(600), pytest.mark.corpus(index=True)]

SUPPORTED = [e.path for e in EXAMPLES if e.supported]


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    return {o.example.path: o for o in run_all(e for e in EXAMPLES if e.supported)}


def test_table_covers_the_corpus() -> None:
    files = set(corpus_files())
    assert files - set(BY_PATH) == set(), "corpus files without an expectation"
    assert set(BY_PATH) - files == set(), "expectations for files not in the corpus"
    assert set(KNOWN_FAILURES) <= set(SUPPORTED)


@pytest.mark.parametrize("path", SUPPORTED)
def test_example(path: str, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[path]
    if path in KNOWN_FAILURES and not outcome.passed:
        pytest.xfail(f"{KNOWN_FAILURES[path]} [{outcome.detail}]")
    assert outcome.passed, outcome.detail


def test_pass_rate(outcomes: dict[str, Outcome]) -> None:
    passed, total = pass_rate(outcomes.values())
    assert total == len(SUPPORTED)
    failing = sorted(p for p, o in outcomes.items() if not o.passed)
    assert passed / total >= REQUIRED_PASS_RATE, (passed, total, failing)
