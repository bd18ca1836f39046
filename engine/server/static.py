"""The web UI's files (vanilla JS and CSS in `static/`, no build step, no outside network).

Paths are resolved and must stay inside the folder: `..`, absolute paths, symlinks out and
encoded separators all end in 404."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

routes = web.RouteTableDef()


def resolve(relative: str, root: Path = STATIC_DIR) -> Path | None:
    """The file `relative` names inside `root`, or None when it is missing or outside."""
    if not relative or "\\" in relative or "\x00" in relative or relative.startswith("/"):
        return None
    base = root.resolve()
    try:
        path = (base / relative).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    if path.suffix not in TYPES:
        return None
    return path


def _file(path: Path) -> web.Response:
    return web.Response(body=path.read_bytes(), content_type=TYPES[path.suffix],
                        charset="utf-8" if path.suffix in (".html", ".js", ".css") else None,
                        headers={"Cache-Control": "no-cache"})


@routes.get("/")
@routes.get("/workflows/{ns}/{name}")
async def index(request: web.Request) -> web.Response:
    return _file(STATIC_DIR / "index.html")


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.Response:
    return web.Response(status=204)


@routes.get("/static/{path:.*}")
async def static_file(request: web.Request) -> web.Response:
    path = resolve(request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound()
    return _file(path)
