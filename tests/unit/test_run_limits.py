"""Run limits (engine.limits.RunLimits): recorded values, defaults for older logs and their
messages kept word for word, and resolution from flags and the environment."""

from __future__ import annotations

import pytest

from engine.errors import InputError
from engine.events import WorkflowSubmitted, decode, encode
from engine.limits import RunLimits
from engine.state.fold import fold


def _submitted(**kw: object) -> WorkflowSubmitted:
    return WorkflowSubmitted(ts=1.0, uid="u", name="n", spec_yaml="", rules=2, **kw)  # type: ignore[arg-type]


def test_a_log_without_limits_has_the_defaults_and_the_old_messages() -> None:
    view = fold([decode(encode(_submitted()))])
    assert view.limits == RunLimits() and not view.limits.recorded
    assert view.limits.depth_exceeded() == (
        "maximum recursion depth exceeded: templates nested more than 100 deep"
        " (the limit of Argo's maxAllowedStackDepth)")
    assert view.limits.loop_exceeded("withItems", 10_001) == (
        "withItems: 10001 items, over the loop limit of 10000 items")
    assert view.limits.nodes_exceeded() == (
        "the workflow has reached the limit of 50000 nodes: no more nodes are created")


def test_recorded_limits_fold_into_the_view_and_name_their_flag() -> None:
    view = fold([decode(encode(_submitted(limits={"max_depth": 7, "max_loop_items": 3})))])
    assert (view.limits.max_depth, view.limits.max_loop_items, view.limits.max_nodes) == (
        7, 3, 50_000)
    assert "more than 7 deep" in view.limits.depth_exceeded()
    assert "--max-loop-items" in view.limits.loop_exceeded("withParam", 4)


def test_flags_win_over_the_environment_which_wins_over_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXITFLOW_MAX_DEPTH", "9")
    monkeypatch.setenv("EXITFLOW_MAX_NODES", "11")
    limits = RunLimits.resolve({"max_nodes": 12})
    assert limits.record() == {"max_depth": 9, "max_loop_items": 10_000, "max_nodes": 12}
    monkeypatch.setenv("EXITFLOW_MAX_LOOP_ITEMS", "0")
    with pytest.raises(InputError, match="EXITFLOW_MAX_LOOP_ITEMS"):
        RunLimits.resolve()
