"""The live stream of changes, as Server-Sent Events in the shape of Argo's watch
(`/api/v1/workflow-events/{ns}`): one `{"result": {"type", "object"}}` per changed run."""

from __future__ import annotations

import json

from aiohttp import web

from ..errors import WorkflowNotFoundError
from ..state.report import workflow_json
from .state import STATE

routes = web.RouteTableDef()

#: A comment line this often keeps proxies and the browser's connection alive (seconds).
KEEPALIVE = 15.0


@routes.get("/api/v1/workflow-events/{ns}")
async def workflow_events(request: web.Request) -> web.StreamResponse:
    """`?name=NAME` (or `listOptions.fieldSelector=metadata.name=NAME`) watches one run."""
    state = request.app[STATE]
    ns = request.match_info["ns"]
    name = request.query.get("name", "")
    selector = request.query.get("listOptions.fieldSelector", "")
    if not name and selector.startswith("metadata.name="):
        name = selector[len("metadata.name="):]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    })
    sub = state.changes.subscribe()
    try:
        await response.prepare(request)
        await response.write(b": connected\n\n")
        while True:
            changed = await sub.next(KEEPALIVE)
            if not changed:
                await response.write(b": keepalive\n\n")
                continue
            for uid in sorted(changed):
                try:
                    view = await state.views.current(uid)
                except WorkflowNotFoundError:  # pruned meanwhile
                    continue
                if name and name not in (view.name, view.uid):
                    continue
                if state.views.namespace(view) != ns:
                    continue
                kind = "ADDED" if view.seq <= 1 else "MODIFIED"
                data = json.dumps({"result": {"type": kind, "object": workflow_json(view)}},
                                  separators=(",", ":"))
                await response.write(f"data: {data}\n\n".encode())
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        state.changes.unsubscribe(sub)
    return response
