"""Argo's example corpus under the Docker executor: the same table, the same judging.

Every supported example in `expectations.EXAMPLES` runs once with `--executor docker` (see
`runner.run_all(..., executor="docker")`, a few at a time), in the stand-in images made by
`.ci/setup-docker.sh`; each gets its own test and `test_pass_rate` requires >= 90% of them to pass,
exactly as `test_argo_examples.py` does for the local executor. Examples in
`DOCKER_KNOWN_FAILURES` are xfail when they fail and pass when they pass. Without a Docker daemon
(or the test images) the tests skip, and without the corpus too; with CI=true both fail.
"""

from __future__ import annotations

import pytest

from tests.conformance.expectations import EXAMPLES, KNOWN_FAILURES, REQUIRED_PASS_RATE
from tests.conformance.runner import Outcome, pass_rate, run_all
from tests.conformance.test_argo_examples import SUPPORTED

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

#: Supported examples expected to fail under the Docker executor, with the reason. The local
#: executor's `KNOWN_FAILURES` that come from sharing the host's filesystem or from how a missing
#: executable is reported do not apply here (containers have their own /tmp; `exit` is not a
#: program in the image, which is a failed container, as in Argo).
_SAME_PORT = ": the argoproj/argosay:v2 image of .ci/setup-docker.sh is the same port"

DOCKER_KNOWN_FAILURES: dict[str, str] = {
    path: KNOWN_FAILURES[path] + _SAME_PORT
    for path in (
        "e2e/functional/dag-empty-param.yaml",
        "e2e/functional/loops-empty-param.yaml",
        "e2e/expectedfailures/parallelism-dag-fail-fast.yaml",
    )
}


@pytest.fixture(scope="module")
def outcomes(docker_available: None) -> dict[str, Outcome]:
    ran = run_all((e for e in EXAMPLES if e.supported), executor="docker")
    return {o.example.path: o for o in ran}


def test_known_failures_are_supported_examples() -> None:
    assert set(DOCKER_KNOWN_FAILURES) <= set(SUPPORTED)


@pytest.mark.corpus(index=True)
@pytest.mark.parametrize("path", SUPPORTED)
def test_example(path: str, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[path]
    if path in DOCKER_KNOWN_FAILURES and not outcome.passed:
        pytest.xfail(f"{DOCKER_KNOWN_FAILURES[path]} [{outcome.detail}]")
    assert outcome.passed, outcome.detail


@pytest.mark.corpus(index=True)
def test_pass_rate(outcomes: dict[str, Outcome]) -> None:
    passed, total = pass_rate(outcomes.values())
    assert total == len(SUPPORTED)
    failing = sorted(p for p, o in outcomes.items() if not o.passed)
    assert passed / total >= REQUIRED_PASS_RATE, (passed, total, failing)
