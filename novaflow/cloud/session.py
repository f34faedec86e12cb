"""The session with a cloud: connecting, microversions, retries and request counts.

Every Nova call is an openstacksdk proxy method (or, where the proxy cannot express the call,
an openstacksdk resource) made through `Session._call`, which retries transient failures with
tenacity and turns permanent ones into `CloudError`s that name the instance and host. Each
call pins the microversion whose semantics it relies on, checked against the cloud's maximum
first so that a cloud too old for a feature is told so in an operator's words. A response hook
counts the requests made, so benchmarks can show that a snapshot or a poll cycle costs a
constant number of API calls.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import keystoneauth1.exceptions as ks_exc
import keystoneauth1.session as ks_session
import openstack
import openstack.config
import openstack.exceptions
import tenacity

from novaflow.errors import (
    BadRequest,
    CannotConnect,
    CloudError,
    PolicyRefused,
    TransientCloudError,
    UnsupportedByCloud,
)

# Microversions, chosen per call. Each is the version whose semantics we rely on.
MV_SERVERS = (2, 96)  # embedded flavor (2.47), locked_reason (2.73), pinned AZ (2.96)
MV_SERVERS_MIN = (2, 47)
MV_HYPERVISORS = (2, 88)  # ids are compute node (= resource provider) uuids from 2.53
MV_HYPERVISORS_MIN = (2, 33)  # paged
MV_SERVICES = (2, 53)  # service UUIDs and PUT /os-services/{id}; forced_down there too
MV_GROUPS = (2, 64)  # `policy` (string) instead of `policies`
MV_MIGRATIONS = (2, 80)  # changes-since and paging (2.59), uuid, user/project ids
MV_MIGRATIONS_MIN = (2, 23)  # migration_type
MV_MIGRATIONS_PAGED = (2, 59)
MV_LIVE = (2, 30)  # a named target is checked by the scheduler (no force) from 2.30
MV_LIVE_MIN = (2, 25)  # block_migration "auto"
MV_COLD_HOST = (2, 56)  # cold migration to a named host
MV_EVACUATE = (2, 94)  # last before 2.95, where evacuated instances end SHUTOFF
MV_EVACUATE_MIN = (2, 14)  # no onSharedStorage: Nova detects shared storage itself
MV_ABORT = (2, 24)
MV_FORCE_COMPLETE = (2, 22)
MV_LOCK_REASON = (2, 73)
MV_UPTIME = (2, 88)  # hypervisor show carries `uptime`

NOVAFLOW_LOCK_PREFIX = "novaflow:"
"""Every lock novaflow takes carries a reason starting with this, so a re-run can tell its own
lock (left by a crashed run, to be released) from one the instance's owner set (to be kept)."""


T = TypeVar("T")


def _mv(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry transient failures: exponential backoff with jitter, bounded."""

    attempts: int = 6
    initial_s: float = 0.5
    max_wait_s: float = 8.0
    budget_s: float = 60.0


@dataclass
class Counters:
    """Requests made, for benchmarks (`api_calls`: to Nova, `placement_calls`: to Placement,
    `http_requests`: all, Keystone included)."""

    api_calls: int = 0
    http_requests: int = 0
    placement_calls: int = 0
    retries: int = 0
    reauthentications: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bump(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)


CHANGES_OVERLAP = timedelta(seconds=2)
"""How far behind its mark a `changes-since` listing starts: Nova's timestamps have one-second
precision and the filter is inclusive, so a change in the same second is never missed (the
observer's polls and the campaign's re-reads)."""


def parse_time(value: str | None) -> datetime | None:
    """A Nova timestamp (with or without zone, 'Z' or offset) as an aware UTC datetime."""
    if not value:
        return None
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Nova's PolicyNotAuthorized message, which names the rule the credentials lack.
_POLICY_RULE = re.compile(r"Policy doesn't allow (\S+) to be performed")


def _sdk_message(exc: openstack.exceptions.HttpException) -> str:
    """The human message Nova put in its error body (the sdk extracts it into `details`)."""
    text = exc.details or exc.message or ""
    return " ".join(str(text).split())[:500]


class _TokenRejected(Exception):
    """Nova or Keystone answered 401 to a call made with the session's token."""


def _is_transient(status: int, message: str) -> bool:
    if status in (429, 502, 503, 504) or (status >= 500 and status != 501):
        return True
    # 409 "while it is in task_state ..." clears by itself; a locked instance or a vm_state
    # conflict (ERROR, SHELVED...) does not.
    return status == 409 and "task_state" in message and "locked" not in message.lower()


def _id_of(item: Any) -> str:
    return str(item.id)


HTTP_POOL = 256
"""Connections kept open per endpoint, one per move a run may have in flight (the top of
`max_parallel`): requests' default of 10 made every concurrent move beyond the tenth open a
new connection and log "Connection pool is full", a warning per request shipped to Prefect."""


def _pool_connections(conn: openstack.connection.Connection) -> None:
    """Keep up to HTTP_POOL connections per endpoint, with keystoneauth's TCP keep-alive."""
    adapter = ks_session.TCPKeepAliveAdapter(pool_maxsize=HTTP_POOL)
    for scheme in ("https://", "http://"):
        conn.session.session.mount(scheme, adapter)
    _skip_empty_environment(conn)


REQUESTS_ENVIRONMENT = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "netrc")
"""What requests looks up in the environment, in any case, on every request when `trust_env`
is on, besides the CA bundle (which `_skip_empty_environment` resolves once)."""
CA_BUNDLE_ENVIRONMENT = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _skip_empty_environment(conn: openstack.connection.Connection) -> None:
    """Read the environment requests would consult once, not on every request.

    With `trust_env` on, requests looks for proxies, a CA bundle and ~/.netrc on every
    request (the whole environment walked, a stat of ~/.netrc): 0.25 of 1.75 ms of CPU per
    request to the sim, measured in process, and a snapshot of 1,000 hosts makes 1,000 reads.
    A CA bundle variable is applied once, as requests would apply it: it replaces a `verify`
    that is simply on, never a CA file or `verify: false` from clouds.yaml. Any proxy
    variable or a netrc file keeps requests' per-request lookup, since those depend on the
    URL."""
    names = {name.lower() for name in os.environ}
    if names & set(REQUESTS_ENVIRONMENT):
        return
    if any(Path(p).expanduser().exists() for p in ("~/.netrc", "~/_netrc")):
        return
    bundle = next((os.environ[n] for n in CA_BUNDLE_ENVIRONMENT if os.environ.get(n)), None)
    if bundle and conn.session.verify is True:
        conn.session.verify = bundle
    conn.session.session.trust_env = False


class Session:
    """One OpenStack cloud's connection, seen with admin credentials. Thread-safe."""

    def __init__(
        self,
        conn: openstack.connection.Connection,
        *,
        name: str = "",
        retry: RetryPolicy | None = None,
        page_size: int = 1000,
    ) -> None:
        self.conn = conn
        self.name = name
        self.retry = retry or RetryPolicy()
        # Only os-server-groups, which has no next links, is paged by us (limit/offset): a
        # page shorter than this is the last one, so keep it <= Nova's max_limit (1000).
        self.page_size = page_size
        self.counters = Counters()
        self._names: dict[str, str] = {}
        self._local = threading.local()
        self._observer: Any = None
        self._observer_lock = threading.Lock()
        self._placement_max: tuple[int, int] | None = None
        self._placement_url: str | None = None
        self.max_version = self._discover_max_version()
        self._count_http()

    # ---------------------------------------------------------------- connecting

    @classmethod
    def connect(
        cls,
        cloud: str | None = None,
        *,
        config_file: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Self:
        """Open the clouds.yaml entry `cloud` (or OS_CLOUD) and check the credentials now.

        Failing here, before any plan is made, is what lets a flow refuse bad input up front.
        """
        files = [config_file] if config_file else None
        try:
            config = openstack.config.OpenStackConfig(config_files=files)
        except openstack.exceptions.ConfigException as exc:
            raise BadRequest(f"cannot read clouds.yaml: {exc}", "fix the file") from exc
        names = sorted(config.get_cloud_names())
        wanted = cloud or config.default_cloud
        if cloud and cloud not in names:
            raise BadRequest(
                f"cloud {cloud!r} is not in clouds.yaml (known: {', '.join(names) or 'none'})",
                "pass one of the known names, or add it to clouds.yaml / OS_CLIENT_CONFIG_FILE",
            )
        label = wanted or "(from OS_* environment)"
        try:
            region = config.get_one(cloud=wanted)
            conn = openstack.connection.Connection(config=region)
            _pool_connections(conn)
            conn.session.get_token()
        except ks_exc.Unauthorized as exc:
            raise CannotConnect(
                f"authentication failed for cloud {label!r}",
                "check the username, password, project and domain in clouds.yaml",
            ) from exc
        except (ks_exc.ConnectionError, ks_exc.DiscoveryFailure) as exc:
            # Not a refusal: an unreachable endpoint may answer on the next try.
            raise CloudError(
                f"cannot reach the identity service of cloud {label!r}: {type(exc).__name__}",
                "check auth_url in clouds.yaml and that the cloud is reachable",
            ) from exc
        except (ks_exc.ClientException, openstack.exceptions.SDKException) as exc:
            raise CannotConnect(
                f"cannot open cloud {label!r}: {type(exc).__name__}",
                "check the entry in clouds.yaml",
            ) from exc
        return cls(conn, name=wanted or "", retry=retry)

    def _discover_max_version(self) -> tuple[int, int]:
        """Nova's maximum microversion, read from its version document.

        keystoneauth answers a version document it could not fetch (a reset connection, a
        503) with no microversions at all, which would read as "this cloud only speaks 2.1"
        and refuse every run; so an answer without them is asked again a few times.
        """
        mv = None
        for attempt in range(self.retry.attempts):
            try:
                data = self.conn.compute.get_endpoint_data()
            except ks_exc.ClientException as exc:
                raise CloudError(
                    f"cannot find the compute API of cloud {self.name!r}: {type(exc).__name__}",
                    "check the service catalog and that the admin user can see Nova",
                ) from exc
            mv = getattr(data, "max_microversion", None) if data else None
            if mv:
                break
            self.counters.bump("retries")
            time.sleep(min(self.retry.max_wait_s, self.retry.initial_s * 2**attempt))
        return (int(mv[0]), int(mv[1])) if mv else (2, 1)

    def _count_http(self) -> None:
        """Count every HTTP request with a requests response hook; those to Nova are API calls.

        The hook runs in the thread that made the request, which is what lets the observer
        charge a poll cycle with its own calls only.
        """
        raw = getattr(self.conn.session, "session", None)
        if raw is None:
            return
        compute = (self.conn.compute.get_endpoint() or "").rstrip("/")
        try:
            placement = (self.conn.placement.get_endpoint() or "").rstrip("/")
        except ks_exc.ClientException:
            placement = ""  # a cloud without Placement in its catalog: counted as HTTP only

        def hook(resp: Any, *_a: Any, **_k: Any) -> None:
            self.counters.bump("http_requests")
            url = getattr(resp.request, "url", "") or ""
            if placement and url.startswith(placement):
                self.counters.bump("placement_calls")
            if compute and url.startswith(compute):
                self.counters.bump("api_calls")
                self._local.api_calls = self.thread_api_calls() + 1
                self._remember_date(resp)

        raw.hooks.setdefault("response", []).append(hook)

    # ---------------------------------------------------------------- requests

    def _version(self, want: tuple[int, int], need: tuple[int, int], feature: str) -> str:
        """The microversion to send: what we want, lowered to the cloud's max, never below need."""
        if self.max_version < need:
            raise UnsupportedByCloud(
                f"cloud {self.name!r} supports compute API up to {_mv(self.max_version)}, "
                f"but {feature} needs {_mv(need)}",
                "upgrade Nova, or choose a method that this cloud supports",
            )
        return _mv(min(want, self.max_version))

    def _call(
        self, what: str, fn: Callable[..., T], *args: Any, ok_404: bool = False, **kwargs: Any
    ) -> T | None:
        """One openstacksdk call with retries on transient failures (None for an allowed 404)."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.attempts)
            | tenacity.stop_after_delay(self.retry.budget_s),
            wait=tenacity.wait_exponential_jitter(
                multiplier=self.retry.initial_s, max=self.retry.max_wait_s
            ),
            retry=tenacity.retry_if_exception_type(TransientCloudError),
            before_sleep=lambda _s: self.counters.bump("retries"),
            reraise=True,
        )
        try:
            try:
                return retrying(self._once, what, fn, args, kwargs, ok_404)
            except _TokenRejected:
                # Nova refused a token Keystone gave us (expired or revoked mid-run, or
                # invalidated by another thread's renewal): one fresh token and one more try.
                # A second refusal is the credentials' fault, and repeating it could lock
                # the account.
                self.counters.bump("reauthentications")
                self.conn.session.invalidate()
                return retrying(self._once, what, fn, args, kwargs, ok_404, True)
        except _TokenRejected as exc:
            raise self._permanent(401, "", what) from exc
        except TransientCloudError as exc:
            raise CloudError(
                f"{exc.what} (gave up after {self.retry.attempts} attempts)",
                "the cloud is failing; check Nova's health and retry later",
            ) from exc

    def _once(
        self,
        what: str,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        ok_404: bool,
        reauthenticated: bool = False,
    ) -> T | None:
        try:
            return fn(*args, **kwargs)
        except openstack.exceptions.HttpException as exc:
            status = exc.status_code or 0
            if status == 404 and ok_404:
                return None
            message = _sdk_message(exc)
            if _is_transient(status, message):
                raise TransientCloudError(f"{what} failed (HTTP {status}): {message}") from exc
            if status == 401:
                raise _TokenRejected(what) from exc
            raise self._permanent(status, message, what) from exc
        except ks_exc.Unauthorized as exc:
            if reauthenticated:  # Keystone itself refused the credentials
                raise self._permanent(401, "", what) from exc
            raise _TokenRejected(what) from exc
        except ks_exc.HttpError as exc:  # Keystone itself failing while renewing the token
            status = exc.http_status or 0
            if _is_transient(status, exc.message or ""):
                raise TransientCloudError(f"{what}: Keystone failed (HTTP {status})") from exc
            raise self._permanent(status, exc.message or "", what) from exc
        except ks_exc.ConnectionError as exc:
            raise TransientCloudError(f"{what}: cannot reach Nova ({type(exc).__name__})") from exc
        except ks_exc.ClientException as exc:
            raise CloudError(
                f"{what} failed: {type(exc).__name__}",
                "check the compute endpoint in the service catalog",
            ) from exc
        except openstack.exceptions.SDKException as exc:
            raise CloudError(f"{what} failed: {exc}", None) from exc

    def _permanent(self, status: int, message: str, what: str) -> CloudError:
        if status == 401:
            return CloudError(
                f"{what}: authentication failed for cloud {self.name!r}",
                "check the credentials in clouds.yaml",
            )
        if status == 403:
            rule = _POLICY_RULE.search(message)
            refused = f"rule {rule.group(1)}" if rule else (message or "no reason given")
            return PolicyRefused(
                f"{what}: cloud {self.name!r} refused by policy ({refused}, HTTP 403)",
                "grant this account the Nova policy rules novaflow needs, listed in "
                "docs/policy.md (admin has them all by default)",
            )
        if status == 406:
            return UnsupportedByCloud(
                f"{what}: the cloud does not accept the microversion (HTTP 406): {message}",
                "upgrade Nova or use a method this cloud supports",
            )
        return CloudError(f"{what} failed (HTTP {status}): {message}", None)

    def _all(
        self,
        what: str,
        lister: Callable[..., Iterable[T]],
        *,
        marker: Callable[[T], str] = _id_of,
        **query: Any,
    ) -> list[T]:
        """Every page of an sdk listing, which follows Nova's next links by itself.

        No `limit` is sent: Nova pages at its own max_limit and links the next page, while
        the sdk, given a limit, always asks once more for a page that comes back empty. A
        transient failure resumes after the last item read, so a retry re-reads one page
        rather than the whole list.
        """
        items: list[T] = []

        def rest() -> list[T]:
            page = dict(query)
            if items:
                page["marker"] = marker(items[-1])
            items.extend(lister(**page))
            return items

        self._call(what, rest)
        return items

    def _remember_date(self, resp: Any) -> None:
        """Keep the server's clock (Date header) per thread: changes-since needs server time."""
        value = resp.headers.get("Date") if resp is not None else None
        if not value:
            return
        try:
            self._local.date = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return

    def thread_api_calls(self) -> int:
        """API calls made so far by the calling thread (what one poller's cycle cost)."""
        return getattr(self._local, "api_calls", 0)

    def server_time(self) -> datetime | None:
        """The server's clock at this thread's latest response (None if it sends no Date)."""
        return getattr(self._local, "date", None)

    # ---------------------------------------------------------------- naming

    def project_id(self, name_or_id: str) -> str | None:
        """The ID of the Keystone project named (or with the ID) `name_or_id`, or None.

        Operators name projects (`web`); Nova's servers carry only the project's ID."""
        projects = {p.id: p.name for p in self.conn.identity.projects()}
        if name_or_id in projects:
            return name_or_id
        return next((pid for pid, name in projects.items() if name == name_or_id), None)

    def label(self, instance_id: str) -> str:
        """name (short uuid) when we have seen the instance, else the uuid."""
        name = self._names.get(instance_id)
        return f"{name} ({instance_id[:8]})" if name else instance_id
