"""Resolving an `http` template into the request of an HTTP node (Argo's node type `HTTP`).

The reconciler treats an HTTP node like a Pod node (write-ahead `NodeStarted`, result recorded
by `NodeFinished`, retries, deadlines, lost attempts re-sent under the same idempotency key);
only the work differs: a `Job` whose `http` is the resolved request, sent by the HTTP executor.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ExpressionError
from ..executors.base import HttpRequest
from ..spec import HTTP

#: Argo's default request timeout (`HTTP.TimeoutSeconds`).
DEFAULT_TIMEOUT_SECONDS = 30.0


def http_request(spec: HTTP, render: Callable[[str], str]) -> HttpRequest:
    """The request of `spec` with every `{{ }}` rendered by `render` (strict: ExpressionError
    when a reference is unresolved, which ends the node in Error before anything is sent)."""
    timeout = DEFAULT_TIMEOUT_SECONDS
    if spec.timeout_seconds is not None:
        text = render(str(spec.timeout_seconds))
        try:
            timeout = float(text)
        except ValueError:
            raise ExpressionError(f"http.timeoutSeconds {text!r} is not a number") from None
        if timeout <= 0:
            raise ExpressionError(f"http.timeoutSeconds {text!r} must be positive")
    url = render(spec.url)
    if not url.startswith(("http://", "https://")):
        raise ExpressionError(f"http.url {url!r} is not an http:// or https:// URL")
    return HttpRequest(
        url=url,
        method=render(spec.method or "GET").upper(),
        headers=[(h.name, render(h.value)) for h in spec.headers if h.value_from is None],
        body=render(spec.body),
        # Evaluated by the HTTP executor over the response; only `{{ }}` tags are rendered here.
        success_condition=render(spec.success_condition) if spec.success_condition else "",
        timeout_seconds=timeout,
        insecure_skip_verify=spec.insecure_skip_verify,
    )
