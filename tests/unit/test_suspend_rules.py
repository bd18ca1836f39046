"""The reconciler's rules for `suspend` templates with a fixed clock: Running until resumed or
its `duration` elapses (rules >= 2), ended Failed by `stop`, an Error under rules 1 (older logs
re-derive as recorded); a restarted operator over the folded log decides the same."""

from __future__ import annotations

import textwrap

from reconcile_harness import T0, At, Harness, ok

from engine.events import RUNNING, SUCCEEDED, SUSPEND, ResumeRequested


def spec(suspend: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {{name: wf}}
        spec:
          entrypoint: main
          onExit: bye
          arguments:
            parameters: [{{name: wait, value: "5s"}}]
          templates:
          - name: main
            steps:
            - - {{name: hold, template: hold}}
            - - {{name: after, template: say}}
          - name: hold
            suspend: {suspend}
          - name: say
            container: {{image: alpine, command: [echo, hi]}}
          - name: bye
            container: {{image: alpine, command: [echo, bye]}}
        """)


def _resume(h: Harness, t: float) -> list[str]:
    decision = h.operator.reconcile(T0 + t, resume=True)
    h.events.extend(decision.events)
    return [type(e).__name__ if isinstance(e, ResumeRequested) else "" for e in decision.events]


def test_suspended_until_resumed_then_the_next_step_runs() -> None:
    h = Harness(spec("{}"))
    first = h.step(At(0))
    assert "init @[0].hold Suspend" in first and "start @[0].hold" in first
    assert not any(line.startswith("wake") for line in first)
    assert h.step(At(100)) == []  # nothing changes while suspended
    node = h.view.node("wf[0].hold")
    assert node is not None and node.type == SUSPEND and node.phase == RUNNING
    r = h.restarted()  # a restarted controller: still suspended, decides nothing new
    assert r.step(At(200)) == []
    assert "ResumeRequested" in _resume(r, 300)
    node = r.view.node("wf[0].hold")
    assert node is not None and node.phase == SUCCEEDED
    assert r.view.node("wf[1].after") is not None


def test_duration_from_a_parameter_wakes_and_resumes_by_itself() -> None:
    h = Harness(spec('{duration: "{{workflow.parameters.wait}}"}'))
    assert "wake +5" in h.step(At(0))
    assert h.step(At(4)) == ["wake +5"]
    assert "finish @[0].hold Succeeded" in h.step(At(5))


def test_stop_fails_the_suspended_node_and_exit_handlers_run() -> None:
    h = Harness(spec("{}"))
    h.step(At(0))
    lines = h.step(At(1, shutdown="Stop"))
    assert any(line.startswith("finish @[0].hold Failed") for line in lines)
    assert any(line.startswith("exiting Failed") for line in lines)
    assert "run @.onExit: echo bye" in lines
    lines = h.step(At(2, results={"@.onExit": ok()}))
    assert any(line.startswith("completed Failed") for line in lines)


def test_rules_1_keeps_the_old_error() -> None:
    h = Harness(spec("{}"), rules=1)
    lines = h.step(At(0))
    assert any("suspend templates are not supported" in line for line in lines)


SPEC_SUSPEND = spec("{duration: 1}").replace("  onExit: bye\n", "  onExit: bye\n  suspend: true\n")


def test_spec_suspend_holds_the_whole_run_until_resumed() -> None:
    h = Harness(SPEC_SUSPEND)
    assert h.step(At(0)) == ["started"]
    assert h.step(At(50)) == []  # held: not even the entrypoint node
    r = h.restarted()
    assert r.step(At(60)) == []
    _resume(r, 70)
    assert r.view.held is False
    assert r.view.node("wf[0].hold") is not None


def test_suspend_command_holds_new_work_but_records_results() -> None:
    h = Harness(spec("{duration: 1}"))
    h.step(At(0))
    h.step(At(1))  # the suspend node's duration elapsed: `after` starts
    decision = h.operator.reconcile(T0 + 2, suspend=True)
    h.events.extend(decision.events)
    assert h.view.held is True
    # `after` finishes while held: recorded, but the exit handler does not start
    lines = h.step(At(3, results={"@[1].after": ok()}))
    assert [x for x in lines if not x.startswith("logged")] == ["finish @[1].after Succeeded"]
    assert h.view.exit_status is None
    assert h.restarted().step(At(4)) == []
    _resume(h, 5)
    assert h.view.exit_status == SUCCEEDED
