"""One deadline for all the store work of one request.

A decision may need several store reads (the signing key, then the policies, each on a cold snapshot), and
each read also waits for a pooled connection and that connection's check. Bounding each wait on its own
lets them add up; inside :func:`request_scope` they share one deadline instead: the scope's start plus the
store's bound for a request (:func:`request_deadline`). Every wait gets only what is left, then the request
fails closed (503). The ASGI adapter opens the scope when it hands the request to a worker thread, so time
spent queued for a busy thread pool counts too; :meth:`Authorizer.check
<ram_middleware.authorizer.Authorizer.check>` opens it otherwise. Outside one (administration, background
writes) each transaction keeps its own limits.

The scope is a context variable, so it follows the request into the worker thread that decides it and
never leaks into another request.

An API call of the control plane (:func:`api_call`) bounds its administrative writes the same way: a
client gives up after its read timeout (the official SDKs' default is 10 s) and retries, so a write must
not land after that; its store work ends by the call's deadline (:func:`store_deadline`), else 503.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

__all__ = [
    "api_call",
    "begin_request",
    "end_request",
    "request_deadline",
    "request_scope",
    "store_deadline",
]


_started: ContextVar[float | None] = ContextVar("ram_request_started", default=None)  # time.monotonic()
_api_deadline: ContextVar[float | None] = ContextVar("ram_api_deadline", default=None)  # time.monotonic()
Scope = Token[float | None] | None


def begin_request() -> Scope:
    """Open a request scope started now, unless one is open (a nested scope joins the outer one and its
    start); hand the result to :func:`end_request`. The plain pair costs less than :func:`request_scope`
    on the inline decision path, which runs once per request."""
    return _started.set(time.monotonic()) if _started.get() is None else None


def end_request(scope: Scope) -> None:
    """Close what :func:`begin_request` opened."""
    if scope is not None:
        _started.reset(scope)


@contextmanager
def request_scope() -> Iterator[None]:
    """Run the block as one request started now: its store work shares one deadline."""
    scope = begin_request()
    try:
        yield
    finally:
        end_request(scope)


def request_deadline(bound: float) -> float | None:
    """The current request's deadline (``time.monotonic()``): its start + ``bound``; None outside one."""
    started = _started.get()
    return None if started is None else started + bound


@contextmanager
def api_call(deadline: float) -> Iterator[None]:
    """Run the block as an API call to be answered by ``deadline`` (``time.monotonic()``)."""
    token = _api_deadline.set(deadline)
    try:
        yield
    finally:
        _api_deadline.reset(token)


def store_deadline(request_bound: float) -> float | None:
    """When the current store work must end: the earlier of the request's deadline (its start +
    ``request_bound``) and the API call's; None outside both (the CLI, ``ram apply``, background work)."""
    bounds = [bound for bound in (request_deadline(request_bound), _api_deadline.get()) if bound is not None]
    return min(bounds, default=None)
