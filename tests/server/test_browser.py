"""The web UI in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright),
against a real `exitflow daemon --listen` on 127.0.0.1. Every request the page makes is checked:
anything not for 127.0.0.1 is refused and fails the test.

Set EXITFLOW_UI_SCREENSHOTS=DIR to keep screenshots (docs/ui.md shows them)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import yaml

from tests.helpers import EXAMPLES

from .conftest import Served, submit

CHROMIUM = os.environ.get("EXITFLOW_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
GREEN = "rgb(15, 122, 92)"  # --ok in style.css
RED = "rgb(179, 38, 30)"  # --bad

pytestmark = pytest.mark.browser


def _unavailable(reason: str) -> None:
    message = f"{reason} (install it with: bash .ci/setup-browser.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) or os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    outside: list[str] = []
    dialogs: list[str] = []

    def guard(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(30_000)
    pg.dialogs = dialogs  # read by the tests: alert() must never open one
    yield pg
    context.close()
    assert outside == [], f"the page tried to reach {outside}"
    assert errors == [], f"script errors: {errors}"


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("EXITFLOW_UI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _open_run(page: Any, daemon: Served, name: str) -> None:
    page.goto(f"{daemon.base}/workflows/default/{name}")
    page.wait_for_selector("#main[data-at] g.node")


def _box(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return dict(box)


def test_failed_step_with_the_green_exit_handler_beside_it(page: Any, daemon: Served) -> None:
    wf = submit(daemon, yaml.safe_load((EXAMPLES / "onexit-cleanup.yaml").read_text()))
    name = wf["metadata"]["name"]
    daemon.wait_phase(name, {"Failed"})
    _open_run(page, daemon, name)
    page.wait_for_selector("#main[data-phase=Failed]")
    failed = f'g.node[data-phase="Failed"][data-name="{name}"]'
    handler = f'g.node[data-role="exit"][data-name="{name}.onExit"]'
    assert page.locator(f"{handler}[data-phase=Succeeded]").count() == 1
    assert page.locator(f"{handler} .dot").evaluate("e => getComputedStyle(e).fill") == GREEN
    assert page.locator(f"{failed} .dot").evaluate("e => getComputedStyle(e).fill") == RED
    assert page.locator(f"{handler} .tagtext").text_content() == "EXIT"
    a, b = _box(page, failed), _box(page, handler)
    assert abs(a["y"] - b["y"]) < 4 and b["x"] > a["x"] + a["width"] - 4  # side by side
    page.wait_for_selector("#verify.verify-ok")
    assert "chain intact" in page.locator("#verify").text_content()
    # keyboard: Tab to the exit handler, Enter opens its details with its log
    page.locator(handler).focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#node-logs')?.textContent.includes('workflow status')")
    details = page.locator("#details").text_content()
    assert "exit handler" in details and "Idempotency key" in details
    assert f"cleanup for {name}: workflow status is Failed" in page.locator(
        "#node-logs").text_content()
    _shot(page, "run-onexit")


def test_the_dag_of_the_brief_with_its_exit_handlers(page: Any, daemon: Served) -> None:
    """The brief's DAG with `should-fail=true`: run-task red, both exit handlers (the one behind
    the brief's `steps.main.status == Failed || tasks.run-task.status == Failed`, and the
    unconditional cleanup) green and marked EXIT."""
    body = yaml.safe_load((EXAMPLES / "dag-exit-handlers.yaml").read_text())
    body["spec"]["arguments"]["parameters"] = [{"name": "should-fail", "value": "true"}]
    name = submit(daemon, body)["metadata"]["name"]
    daemon.wait_phase(name, {"Failed"})
    _open_run(page, daemon, name)
    page.wait_for_selector("#main[data-phase=Failed]")
    task = 'g.node[data-name="run-task"]'
    assert page.locator(f"{task}[data-phase=Failed]").count() == 1
    assert page.locator(f"{task} .dot").evaluate("e => getComputedStyle(e).fill") == RED
    for handler in ("fail-task", "always-run-cleanup"):
        node = f'g.node[data-role="exit"][data-name="{handler}"]'
        assert page.locator(f"{node}[data-phase=Succeeded]").count() == 1, handler
        assert page.locator(f"{node} .dot").evaluate("e => getComputedStyle(e).fill") == GREEN
        assert page.locator(f"{node} .tagtext").text_content() == "EXIT"
    page.locator('g.node[data-name="fail-task"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#node-logs')?.textContent.includes('run-task failed')")
    assert f"run-task failed in {name}: status Failed" in page.locator(
        "#node-logs").text_content()
    _shot(page, "run-dag-brief")


def test_the_slider_moves_the_run_back_in_time(page: Any, daemon: Served) -> None:
    wf = submit(daemon, yaml.safe_load((EXAMPLES / "retry-deadline-exit.yaml").read_text()))
    name = wf["metadata"]["name"]
    final = daemon.wait_phase(name, {"Failed", "Error"}, timeout=90)
    _open_run(page, daemon, name)
    page.wait_for_selector(f"#main[data-phase={final['status']['phase']}]")
    assert page.locator(".group text", has_text="retries").count() == 1
    assert page.locator(f'g.node[data-role="exit"][data-name="{name}.onExit"]'
                        '[data-phase="Succeeded"]').count() == 1
    # as Argo draws steps: group [1] hangs below the last attempt of the retried step [0]
    last_try = _box(page, 'g.node[data-name="flaky(2)"]')
    group = _box(page, 'g.node[data-name="[1]"]')
    assert group["y"] > last_try["y"] + last_try["height"]
    _shot(page, "run-retry-deadline-exit")
    total = int(page.locator("#timeline").get_attribute("max"))
    slider = page.locator("#timeline")
    slider.focus()
    page.keyboard.press("Home")  # the first event: only the submission
    page.wait_for_selector("#main[data-at='1']")
    assert page.locator("#main").get_attribute("data-phase") == "Pending"
    assert page.locator("g.node").count() == 0
    assert "Event 1 of" in page.locator("#timeline-text").text_content()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_selector("#main[data-at='4']")
    assert page.locator("#main").get_attribute("data-phase") == "Running"
    assert page.locator('g.node[data-role="exit"]').count() == 0  # not owed yet
    _shot(page, "run-time-travel")
    page.locator("#live").click()
    page.wait_for_selector(f"#main[data-at='{total}']")
    assert page.locator('g.node[data-role="exit"]').count() == 1
    # and with the mouse: drag the thumb from the present to the far left
    box = _box(page, "#timeline")
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] - 3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, y, steps=5)
    page.mouse.move(box["x"] + 1, y, steps=5)
    page.mouse.up()
    page.wait_for_selector("#main[data-at='1']")
    assert page.locator("g.node").count() == 0
    assert page.locator("#live").get_attribute("aria-pressed") == "false"


XSS = '<img src=x onerror="document.title=\'pwned\'">'
SCRIPT = "<script>alert(1)</script>"
XSS_WORKFLOW = f"""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: xss-}}
spec:
  entrypoint: say
  arguments:
    parameters: [{{name: msg, value: plain}}]
  templates:
    - name: say
      inputs: {{parameters: [{{name: msg, value: "{{{{workflow.parameters.msg}}}}"}}]}}
      container:
        image: alpine:latest
        command: [sh, -c]
        args: ["echo '{SCRIPT}'; printf '%s\\\\n' \\"$MSG\\""]
        env: [{{name: MSG, value: "{{{{inputs.parameters.msg}}}}"}}]
"""


def test_hostile_parameters_and_logs_are_shown_as_text(page: Any, daemon: Served) -> None:
    reply = daemon.request("POST", "/api/v1/workflows/default?parameter=msg=" + quote(XSS),
                           XSS_WORKFLOW,
                           headers={"Content-Type": "application/yaml"})
    assert reply.status == 200, reply.body
    name = reply.json()["metadata"]["name"]
    daemon.wait_phase(name, {"Succeeded"})
    page.goto(f"{daemon.base}/")
    page.wait_for_selector(f'tr[data-name="{name}"]')
    _open_run(page, daemon, name)
    assert page.locator("#run-params dd").text_content() == XSS
    page.locator(f'g.node[data-name="{name}"]').click()
    page.wait_for_function(
        "() => document.querySelector('#node-logs')?.textContent.includes('alert')")
    logs = page.locator("#node-logs").text_content()
    assert SCRIPT in logs and XSS in logs
    assert XSS in page.locator("#details").text_content()  # the node's input
    assert page.locator("img").count() == 0  # nothing was parsed as HTML
    assert page.locator("main script").count() == 0
    assert page.title() != "pwned"
    assert page.dialogs == []
    _shot(page, "xss-as-text")


def test_the_runs_list_updates_live_and_filters_by_phase(page: Any, daemon: Served) -> None:
    page.goto(f"{daemon.base}/")
    page.wait_for_selector("#phase-filter")
    wf = submit(daemon, yaml.safe_load((EXAMPLES / "onexit-cleanup.yaml").read_text()))
    name = wf["metadata"]["name"]
    row = page.locator(f'tr[data-name="{name}"]')
    row.locator(".phase-Failed").wait_for()  # arrived and finished without a reload
    page.select_option("#phase-filter", "Succeeded")
    page.wait_for_selector(f'tr[data-name="{name}"]', state="detached")
    page.select_option("#phase-filter", "Failed")
    page.wait_for_selector(f'tr[data-name="{name}"]')
    _shot(page, "runs-list")


LOOP_WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: loop-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: each
            template: echo
            arguments: {parameters: [{name: v, value: "{{item}}"}]}
            withItems: [a, b, c]
    - name: echo
      inputs: {parameters: [{name: v}]}
      container: {image: alpine:latest, command: [echo, "{{inputs.parameters.v}}"]}
"""


def test_hooks_are_marked_and_loops_grouped(page: Any, daemon: Served) -> None:
    hooks = submit(daemon, (EXAMPLES / "hooks-step-level.yaml").read_text())["metadata"]["name"]
    loop = submit(daemon, LOOP_WORKFLOW)["metadata"]["name"]
    daemon.wait_phase(hooks, {"Succeeded", "Failed"})
    daemon.wait_phase(loop, {"Succeeded"})
    _open_run(page, daemon, hooks)
    hook = page.locator('g.node[data-role="hook"]')
    assert hook.count() >= 1
    assert hook.first.locator(".tagtext").text_content() == "HOOK"
    exits = page.locator('g.node[data-role="exit"]')
    assert exits.count() >= 2  # produce's hooks.exit and flaky's onExit
    assert all(t == "EXIT" for t in exits.locator(".tagtext").all_text_contents())
    _shot(page, "run-hooks")
    _open_run(page, daemon, loop)
    page.wait_for_selector(".group text")
    assert page.locator(".group text").all_text_contents() == ["loop ×3"]
    assert page.locator('g.node[data-name^="each("]').count() == 3
