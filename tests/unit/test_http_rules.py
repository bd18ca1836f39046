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


CHILD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: child-rules}
spec:
  entrypoint: make
  templates:
    - name: make
      resource:
        action: create
        manifest: |
          apiVersion: argoproj.io/v1alpha1
          kind: Workflow
          metadata: {generateName: kid-}
          spec:
            entrypoint: k
            templates: [{name: k, container: {image: a, command: [echo, "{{workflow.name}}"]}}]
"""


@pytest.mark.parametrize("rules", [1, RULES_VERSION])
def test_a_resource_creating_a_workflow_runs_only_under_rules_2(rules: int) -> None:
    submitted = WorkflowSubmitted(ts=1.0, uid="u-2", name="child-rules", spec_yaml=CHILD,
                                  rules=rules)
    op = Operator(fold([submitted]), load_text(CHILD))
    decision = op.reconcile(2.0)
    node = op.view.node("child-rules")
    assert node is not None
    if rules == 1:
        assert node.phase == ERROR and decision.start == []
        return
    job = op.job_for(node)
    assert job is not None and job.child is not None and decision.start == [node.id]
    # Named after the node's idempotency key: the same on every re-run of the node.
    again = Operator(fold([submitted]), load_text(CHILD))
    again.reconcile(2.0)
    other = again.job_for(again.view.nodes[node.id])
    assert other is not None and other.child == job.child
    assert job.child.name.startswith("kid-") and len(job.child.name) == len("kid-") + 5
    # The parent's variables are rendered into the manifest; the child's are its own.
    assert "command: [echo, \"child-rules\"]" in job.child.manifest
