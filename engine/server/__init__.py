"""The HTTP server: the Argo-shaped API, the web UI, `/metrics` (aiohttp.web).

Modules, one concept each: `app` (assembly, security middleware, listening), `auth` (bearer
token), `routes` (the API), `views` (cached incremental folds of runs), `changes` (the database
poller that feeds live updates and metrics), `sse` (the live stream), `metrics` (Prometheus),
`static` (the UI files), `openapi` (the API description). The static UI lives in `static/`.
"""

from .app import ServerConfig as ServerConfig
from .app import parse_listen as parse_listen
from .app import serve as serve
from .auth import load_token as load_token

__all__ = ["ServerConfig", "load_token", "parse_listen", "serve"]
