"""A flow run's Prefect API calls, retried within milliseconds when a SQLite-backed server
refuses a write for a moment.

On SQLite, Prefect's server answers 503 when a write transaction finds another writer
committed first (SQLITE_BUSY_SNAPSHOT); its event persister writes all through a run. The
Prefect client then sleeps 2 s (then 4, 8...) before asking again, although the conflict is
over within milliseconds: on an idle server, 4% of variable updates got a 503 and each cost
2 s; after the drain benchmarks, one such answer to a slot lease held an evacuation's first
rebuild back 2.5 s. The client sleeps those 2 s even with its retries set to 0 (it sleeps
before it counts), so `quick_retries` asks again below it, in the HTTP transport, from
50 ms; only a server still refusing after `QUICK_S` reaches the client's own back-off.
`retried` adds patience for longer outages (a server restarting) to novaflow's own calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.context import SettingsContext, SyncClientContext, get_settings_context
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES
from tenacity import (
    Retrying,
    retry,
    retry_if_exception,
    retry_if_result,
    stop_after_delay,
    wait_exponential_jitter,
)

T = TypeVar("T")

QUICK_S = 3.0
"""How long a refused request is asked again below the Prefect client (a SQLite write
conflict clears in milliseconds)."""


def _refused(response: httpx.Response) -> bool:
    return response.status_code == 503


class QuickRetries(httpx.BaseTransport):
    """A transport that asks again, from 50 ms and doubling, while the server answers 503,
    for up to `within_s`; then it returns the last answer to the Prefect client. Safe for
    every request: a 503 from Prefect's server means the transaction was rolled back, and
    the client itself would send the same request again."""

    def __init__(self, inner: httpx.BaseTransport, within_s: float = QUICK_S) -> None:
        self.inner = inner
        self.within_s = within_s
        self.refusals = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        asking = Retrying(
            retry=retry_if_result(_refused),
            stop=stop_after_delay(self.within_s),
            wait=wait_exponential_jitter(multiplier=0.05, max=1.0, jitter=0.05),
            before_sleep=self._before_sleep,
            retry_error_callback=lambda state: state.outcome.result(),  # the last 503
        )
        return asking(self._send, request)

    def _send(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if _refused(response):
            response.read()  # small; a retry closes it, the last one goes to the client
        return response

    def _before_sleep(self, state: Any) -> None:
        self.refusals += 1
        state.outcome.result().close()

    def close(self) -> None:
        self.inner.close()


def quick_retries(client: SyncPrefectClient) -> SyncPrefectClient:
    """Give `client` the QuickRetries transport (once)."""
    http = client._client  # the httpx client under Prefect's (no public way to reach it)
    inner = getattr(http, "_transport", None)
    if isinstance(inner, httpx.BaseTransport) and not isinstance(inner, QuickRetries):
        http._transport = QuickRetries(inner)
    return client


def quick_retries_for_this_run() -> None:
    """Give the flow run's own client QuickRetries. In a run, `get_client` returns that
    client, which the run's task runs share: their state changes get it too."""
    ctx = SyncClientContext.get()
    if ctx is not None:
        quick_retries(ctx.client)


_quiet: dict[int, tuple[Any, Any]] = {}
"""Settings objects (by id) and the same without client retries. Building one costs ~25 ms
of CPU (pydantic-settings reads the environment, .env, pyproject.toml and Prefect's profiles
again), so once per settings object, not per call. Several are in use at once: the flow
run's, a pool thread's, and the quiet ones themselves when a retried call calls another; a
single remembered pair made threads, and nested calls, rebuild it on every call."""


def _without_client_retries(settings: Any) -> Any:
    if settings.client.max_retries == 0:
        return settings  # already quiet: a retried call inside another one
    known = _quiet.get(id(settings))
    if known is None or known[0] is not settings:
        if len(_quiet) >= 32:
            _quiet.clear()  # settings objects come and go with runs: keep the cache small
        known = (settings, settings.copy_with_update(updates={PREFECT_CLIENT_MAX_RETRIES: 0}))
        _quiet[id(settings)] = known
    return known[1]


def server_hiccup(exc: BaseException) -> bool:
    """A Prefect server that is restarting or overloaded (connection refused, 5xx, 429)."""
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return False


@contextmanager
def own_retries() -> Iterator[None]:
    """Within: the Prefect client sends each request once (the caller retries). It still
    sleeps 2 s before it returns a 503, which QuickRetries, below it, keeps from coming."""
    ctx = get_settings_context()
    with SettingsContext(profile=ctx.profile, settings=_without_client_retries(ctx.settings)):
        yield


def retried(within_s: float) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a function of Prefect API calls: run it with `own_retries`, again from 50 ms
    later (doubling, at most 15 s apart) on a server hiccup, for up to `within_s`."""

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @retry(
            retry=retry_if_exception(server_hiccup),
            stop=stop_after_delay(within_s),
            wait=wait_exponential_jitter(multiplier=0.05, max=15, jitter=0.05),
            reraise=True,
        )
        @wraps(fn)
        def call(*args: Any, **kwargs: Any) -> T:
            with own_retries():
                return fn(*args, **kwargs)

        return call

    return decorate
