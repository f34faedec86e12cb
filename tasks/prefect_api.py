"""novaflow's own Prefect API calls (host claims, slot leases), retried within milliseconds
when a SQLite-backed server refuses a write for a moment.

On SQLite, Prefect's server answers 503 when a write transaction finds another writer
committed first (SQLITE_BUSY_SNAPSHOT); its event persister writes all through a run. The
Prefect client then sleeps 2 s (then 4, 8...) before asking again, although the conflict is
over within milliseconds: on an idle server, 4% of variable updates got a 503 and each cost
2 s; during a 1,000-move run, giving back 58 host claims took 5-9 s. These calls switch the
client's own back-off off and retry themselves from 50 ms, doubling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import httpx
from prefect.context import SettingsContext, get_settings_context
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential_jitter

T = TypeVar("T")

_quiet: list[Any] = [None, None]
"""The settings last derived from, and the same without client retries (building them costs
~25 ms, so once per settings object, not per call)."""


def server_hiccup(exc: BaseException) -> bool:
    """A Prefect server that is restarting or overloaded (connection refused, 5xx, 429)."""
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return False


@contextmanager
def own_retries() -> Iterator[None]:
    """Within: the Prefect client tries each request once (the caller retries)."""
    ctx = get_settings_context()
    base, quiet = _quiet
    if base is not ctx.settings:
        quiet = ctx.settings.copy_with_update(updates={PREFECT_CLIENT_MAX_RETRIES: 0})
        _quiet[:] = [ctx.settings, quiet]
    with SettingsContext(profile=ctx.profile, settings=quiet):
        yield


def retried(within_s: float) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a function of Prefect API calls: run it with `own_retries`, again from 50 ms
    later (doubling, at most 15 s apart) on a server hiccup, for up to `within_s`."""

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @retry(
            retry=retry_if_exception(server_hiccup),
            stop=stop_after_delay(within_s),
            wait=wait_exponential_jitter(initial=0.05, max=15),
            reraise=True,
        )
        @wraps(fn)
        def call(*args: Any, **kwargs: Any) -> T:
            with own_retries():
                return fn(*args, **kwargs)

        return call

    return decorate
