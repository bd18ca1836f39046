"""An `http` template is an HTTP node only for runs decided by rules >= 2; a run recorded under
rules 1 (before HTTP nodes existed) still re-derives its Error node, so old logs still verify."""

from __future__ import annotations

import pytest

from engine.controller.operator import Operator
from engine.events import ERROR, HTTP_TYPE, RULES_VERSION, WorkflowSubmitted
from engine.spec import load_text
from engine.state.fold import fold

SPEC = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: http-rules}
spec:
  entrypoint: call
  templates:
    - name: call
      http:
        url: "http://127.0.0.1:9/{{workflow.name}}"
        method: post
        timeoutSeconds: 5
        headers: [{name: X-A, value: "{{workflow.name}}"}]
"""


def _operator(rules: int) -> Operator:
    submitted = WorkflowSubmitted(ts=1.0, uid="u-1", name="http-rules", spec_yaml=SPEC, rules=rules)
    return Operator(fold([submitted]), load_text(SPEC))


def test_rules_1_keeps_the_unsupported_error() -> None:
    op = _operator(1)
    decision = op.reconcile(2.0)
    node = op.view.node("http-rules")
    assert node is not None and node.phase == ERROR and node.type != HTTP_TYPE
    assert "not supported" in node.message and decision.start == []


@pytest.mark.parametrize("rules", sorted({2, RULES_VERSION}))
def test_current_rules_start_an_http_node_with_a_resolved_request(rules: int) -> None:
    op = _operator(rules)
    decision = op.reconcile(2.0)
    node = op.view.node("http-rules")
    assert node is not None and node.type == HTTP_TYPE and decision.start == [node.id]
    job = op.job_for(node)
    assert job is not None and job.http is not None
    assert job.http.url == "http://127.0.0.1:9/http-rules"
    assert job.http.method == "POST" and job.http.timeout_seconds == 5.0
    assert job.http.headers == [("X-A", "http-rules")]
    assert job.idempotency_key == f"u-1:{node.id}"
