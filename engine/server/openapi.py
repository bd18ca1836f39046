"""The OpenAPI 3 description of the API, served at `/api/openapi.json`."""

from __future__ import annotations

from typing import Any

from .. import __version__


def _op(summary: str, *, params: tuple[str, ...] = (), query: tuple[str, ...] = (),
        body: bool = False, auth: bool = False, stream: str = "") -> dict[str, Any]:
    parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in params]
    parameters += [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
                   for q in query]
    op: dict[str, Any] = {"summary": summary, "parameters": parameters}
    content = stream or "application/json"
    op["responses"] = {
        "200": {"description": "OK", "content": {content: {"schema": {"type": "object"}}}},
        "400": {"description": "bad input (one-line JSON {code, message})"},
        "401": {"description": "missing or wrong bearer token"},
        "404": {"description": "no such workflow"},
    }
    if body:
        op["requestBody"] = {"content": {
            "application/json": {"schema": {"type": "object", "properties": {
                "workflow": {"type": "object"},
                "parameters": {"type": "array", "items": {"type": "string"}},
                "executor": {"type": "string", "enum": ["local", "docker", "simulate"]}}}},
            "application/yaml": {"schema": {"type": "string"}},
        }}
        op["responses"]["413"] = {"description": "request body too large"}
    if auth:
        op["security"] = [{"bearer": []}]
    return op


def document() -> dict[str, Any]:
    ns_name = ("ns", "name")
    base = "/api/v1/workflows/{ns}"
    return {
        "openapi": "3.0.3",
        "info": {"title": "Exitflow API", "version": __version__,
                 "description": "Argo Workflows server shape; namespace is a label "
                                "(metadata.namespace, else default)."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            base: {
                "get": _op("List runs (get -o json shape), newest first", params=("ns",),
                           query=("phase", "listOptions.labelSelector", "listOptions.limit",
                                  "listOptions.continue")),
                "post": _op("Submit a workflow (as `exitflow submit`)", params=("ns",),
                            query=("parameter",), body=True, auth=True),
            },
            base + "/{name}": {"get": _op("A run, exactly `exitflow get -o json`",
                                          params=ns_name)},
            base + "/{name}/stop": {"put": _op("Stop: fail running work, exit handlers still run",
                                               params=ns_name, auth=True)},
            base + "/{name}/terminate": {"put": _op("Terminate: no exit handlers",
                                                    params=ns_name, auth=True)},
            base + "/{name}/log": {"get": _op("Node logs, one JSON object per line",
                                              params=ns_name, query=("nodeId", "podName"),
                                              stream="application/x-ndjson")},
            base + "/{name}/events": {"get": _op("The event history; ?at=SEQ adds the run as it "
                                                 "stood after that event", params=ns_name,
                                                 query=("at",))},
            base + "/{name}/verify": {"get": _op("Verify the run's hash chain, logs, fold and "
                                                 "re-derivation", params=ns_name)},
            "/api/v1/workflow-events/{ns}": {"get": _op(
                "Live changes (Server-Sent Events)", params=("ns",),
                query=("name", "listOptions.fieldSelector"), stream="text/event-stream")},
            "/api/v1/info": {"get": _op("Server version and settings")},
            "/metrics": {"get": _op("Prometheus metrics", stream="text/plain")},
        },
    }
