"""The API in the Argo server's shape (namespace is a label of ours: `metadata.namespace`, else
`default`). Every handler reads through the store or submits through `engine.api`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..api import parse_parameters, submit
from ..audit.replay import parse_at, view_at
from ..audit.source import DatabaseSource
from ..audit.verify import verify
from ..errors import InputError, WorkflowNotFoundError
from ..state.report import workflow_json
from ..state.view import WorkflowView
from ..store import WorkflowRecord
from .state import STATE, ServerState
from .views import DEFAULT_NAMESPACE, event_row, namespace_of, node_extras

routes = web.RouteTableDef()

DEFAULT_PAGE = 100
MAX_PAGE = 1000
COMMANDS = {"stop": "Stop", "terminate": "Terminate"}
PHASE_LABEL = "workflows.argoproj.io/phase"


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, separators=(",", ":")), status=status,
                        content_type="application/json")


def _state(request: web.Request) -> ServerState:
    return request.app[STATE]


async def _run(request: web.Request) -> WorkflowView:
    """The run named in the path, in the path's namespace (404 otherwise)."""
    state = _state(request)
    ns, name = request.match_info["ns"], request.match_info["name"]
    view = await state.views.current(name)
    if state.views.namespace(view) != ns:
        raise WorkflowNotFoundError(f"no workflow {name!r} in namespace {ns!r}")
    return view


def _phases(query: Any) -> set[str]:
    """`?phase=Failed&phase=Running`, `?phase=Failed,Running`, or Argo's label selector
    `listOptions.labelSelector=workflows.argoproj.io/phase in (Failed,Running)`."""
    phases: set[str] = set()
    for value in query.getall("phase", []):
        phases.update(p.strip() for p in value.split(",") if p.strip())
    selector = query.get("listOptions.labelSelector", "")
    if selector.startswith(PHASE_LABEL):
        rest = selector[len(PHASE_LABEL):].strip()
        if rest.startswith("="):
            phases.add(rest.lstrip("=").strip())
        elif rest.startswith("in"):
            inner = rest[2:].strip().strip("()")
            phases.update(p.strip() for p in inner.split(",") if p.strip())
    return phases


def _int(query: Any, *names: str, default: int) -> int:
    for name in names:
        value = query.get(name)
        if value not in (None, ""):
            if not value.isdigit():
                raise InputError(f"{name}={value!r}: expected a non-negative integer")
            return int(value)
    return default


@routes.get("/api/v1/workflows/{ns}")
async def list_workflows(request: web.Request) -> web.Response:
    state = _state(request)
    ns = request.match_info["ns"]
    phases = _phases(request.query)
    limit = min(_int(request.query, "listOptions.limit", "limit", default=DEFAULT_PAGE)
                or DEFAULT_PAGE, MAX_PAGE)
    offset = _int(request.query, "listOptions.continue", "continue", default=0)
    records: list[WorkflowRecord] = sorted(
        await state.store.list_workflows(), key=lambda r: r.created_at, reverse=True
    )
    if phases:
        records = [r for r in records if r.phase in phases]
    items: list[dict[str, Any]] = []
    matched = 0
    more = False
    for record in records:
        view = await state.views.current(record.uid)
        if state.views.namespace(view) != ns:
            continue
        if matched >= offset:
            if len(items) == limit:
                more = True
                break
            items.append(workflow_json(view))
        matched += 1
    metadata: dict[str, Any] = {"continue": str(offset + limit)} if more else {}
    return json_response({"items": items, "metadata": metadata})


@routes.get("/api/v1/workflows/{ns}/{name}")
async def get_workflow(request: web.Request) -> web.Response:
    return json_response(workflow_json(await _run(request)))


def _parameters(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return parse_parameters(value)
    raise InputError("parameters: expected a list of 'name=value' or an object")


def _body_workflow(body: bytes, content_type: str, ns: str) -> tuple[str, dict[str, str],
                                                                     str | None]:
    """(workflow text, parameters, executor) from `{"workflow": {...}}` (Argo's create request),
    a bare JSON workflow, or YAML."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("request body: not UTF-8 text") from None
    if not text.strip():
        raise InputError("request body: empty (send {\"workflow\": {...}} or YAML)")
    data: Any = None
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            if "json" in content_type:
                raise InputError(f"request body: invalid JSON ({e.msg} at line {e.lineno})"
                                 ) from None
    if not isinstance(data, dict):
        return text, {}, None
    options = data.get("submitOptions") or {}
    workflow = data.get("workflow", data if "kind" in data else None)
    if not isinstance(workflow, dict):
        raise InputError("request body: expected {\"workflow\": {...}}")
    metadata = workflow.setdefault("metadata", {})
    if isinstance(metadata, dict) and ns != DEFAULT_NAMESPACE:
        metadata.setdefault("namespace", ns)
    parameters = _parameters(data.get("parameters", options.get("parameters")))
    executor = data.get("executor")
    if executor is not None and not isinstance(executor, str):
        raise InputError("executor: expected a string")
    return json.dumps(workflow, indent=1), parameters, executor


@routes.post("/api/v1/workflows/{ns}")
async def create_workflow(request: web.Request) -> web.Response:
    state = _state(request)
    ns = request.match_info["ns"]
    body = await request.read()
    text, parameters, executor = _body_workflow(body, request.content_type, ns)
    for pair in request.query.getall("parameter", []):
        parameters.update(parse_parameters([pair]))
    found = namespace_of(text, "request body")
    if found != ns:
        raise InputError(f"the workflow's namespace is {found!r}, not {ns!r} (the path's)")
    submitted = await submit(state.store, text, source="request body", parameters=parameters,
                             executor=executor)
    view = await state.views.current(submitted.uid)
    return json_response(workflow_json(view))


async def _command(request: web.Request, verb: str) -> web.Response:
    state = _state(request)
    view = await _run(request)
    if view.finished:
        return json_response({"code": 409, "message": f"{view.name} already finished "
                                                      f"({view.phase})"}, status=409)
    await state.store.add_command(view.uid, COMMANDS[verb])
    return json_response(workflow_json(view))


@routes.put("/api/v1/workflows/{ns}/{name}/stop")
async def stop(request: web.Request) -> web.Response:
    return await _command(request, "stop")


@routes.put("/api/v1/workflows/{ns}/{name}/terminate")
async def terminate(request: web.Request) -> web.Response:
    return await _command(request, "terminate")


@routes.get("/api/v1/workflows/{ns}/{name}/log")
async def log(request: web.Request) -> web.Response:
    """Argo's log stream shape: one `{"result": {"content", "podName"}}` per line."""
    state = _state(request)
    view = await _run(request)
    wanted = request.query.get("nodeId") or request.query.get("podName")
    node_id = None
    if wanted:
        matches = [n for n in view.nodes.values() if wanted in (n.id, n.name, n.display_name)]
        if not matches:
            raise WorkflowNotFoundError(f"workflow {view.name} has no node {wanted!r}")
        node_id = matches[0].id
    lines = []
    for rec in await state.store.read_logs(view.uid, node_id):
        for line in rec.data.decode("utf-8", "replace").splitlines():
            lines.append(json.dumps({"result": {"content": line, "podName": rec.node_id,
                                                "stream": rec.stream, "attempt": rec.attempt}}))
    return web.Response(text="".join(line + "\n" for line in lines),
                        content_type="application/x-ndjson")


@routes.get("/api/v1/workflows/{ns}/{name}/events")
async def events(request: web.Request) -> web.Response:
    """The run's history; with `?at=SEQ` (a time, or `latest`) also the run as it stood after
    that event (the same fold as `exitflow replay --at`), with what the UI shows beyond
    `get -o json`."""
    state = _state(request)
    view = await _run(request)
    recorded = await state.store.read(view.uid)
    evs = [r.event for r in recorded]
    out: dict[str, Any] = {"total": len(recorded)}
    if "at" in request.query:
        text = request.query["at"]
        seq = len(evs) if text == "latest" else parse_at(text, evs)
        past = view_at(evs, seq)
        out.update(at=seq, workflow=workflow_json(past), nodes=node_extras(past, evs[:seq]))
    out["events"] = [event_row(r.seq, r.event, r.hash) for r in recorded]
    return json_response(out)


@routes.get("/api/v1/workflows/{ns}/{name}/verify")
async def verify_run(request: web.Request) -> web.Response:
    """`exitflow verify NAME` for one run: chain, logs, fold and re-derivation."""
    state = _state(request)
    view = await _run(request)
    report = await verify(DatabaseSource(state.store), view.uid)
    run = report.runs[0] if report.runs else None
    return json_response({
        "ok": report.ok,
        "events": run.events if run else 0,
        "checks": run.checks if run else [],
        "findings": [f.line() for f in report.findings],
    })


@routes.get("/api/v1/info")
async def info(request: web.Request) -> web.Response:
    from .. import __version__

    state = _state(request)
    return json_response({"version": __version__, "database": state.store.path,
                          "controller": state.controller,
                          "readsNeedToken": state.reads_need_token,
                          "pollError": state.changes.error})


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    from .openapi import document

    return json_response(document())


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    from .metrics import CONTENT_TYPE_LATEST

    state = _state(request)
    await state.changes.caught_up.wait()
    state.metrics.set_runs(await state.store.list_workflows())
    resp = web.Response(body=state.metrics.render())
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp
