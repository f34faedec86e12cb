"""The only code that talks to OpenStack: snapshots, compute actions and retries (openstacksdk).

Every Nova call is an openstacksdk proxy method (or, where the proxy cannot express the call, an
openstacksdk resource) made through `Cloud._call`, which retries transient failures with
tenacity and turns permanent ones into `CloudError`s that name the instance and host. The
exception is reading servers and migrations (the snapshot's, the observer's and the mover's
reads), done as JSON through the same sdk compute proxy because building sdk resources is too
slow for thousands of instances (see `Cloud._server_bodies`). Each call pins the microversion
whose semantics it relies on, checked against the cloud's maximum first so that a cloud too old
for a feature is told so in an operator's words. Capacity is read from Placement, as Nova's
scheduler decides from it (`_placement_view`), as JSON through the sdk's placement proxy. A
response hook counts the requests made, so benchmarks can show that a snapshot or a poll cycle
costs a constant number of API calls.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

import keystoneauth1.exceptions as ks_exc
import keystoneauth1.session as ks_session
import openstack
import openstack.config
import openstack.exceptions
import tenacity
from openstack import resource as sdk_resource
from openstack import utils as sdk_utils
from openstack.compute.v2 import aggregate as sdk_aggregate
from openstack.compute.v2 import server as sdk_server
from openstack.compute.v2 import server_group as sdk_server_group
from openstack.compute.v2 import service as sdk_service

from novaflow.errors import (
    BadRequest,
    CannotConnect,
    CloudError,
    PolicyRefused,
    TransientCloudError,
    UnsupportedByCloud,
)
from novaflow.models import (
    STANDARD_RESOURCES,
    AllocationRatios,
    CloudFeatures,
    Flavor,
    Host,
    Instance,
    Inventory,
    NestedProvider,
    Resources,
    ServerGroup,
    Snapshot,
)
from novaflow.refusals import NovaReason, last_line

# Microversions, chosen per call. Each is the version whose semantics we rely on.
MV_SERVERS = (2, 96)  # embedded flavor (2.47), locked_reason (2.73), pinned AZ (2.96)
MV_SERVERS_MIN = (2, 47)
MV_HYPERVISORS = (2, 88)  # ids are compute node (= resource provider) uuids from 2.53
MV_HYPERVISORS_MIN = (2, 33)  # paged
# Placement: provider summaries with traits (1.17) and root/parent providers (1.29).
PLACEMENT_MV = (1, 29)
PLACEMENT_MV_MIN = (1, 14)  # parent / root providers on every provider
PLACEMENT_POOL = 8  # per-provider inventory reads at once: bounded, so a big cloud is not flooded
DISABLED_TRAIT = "COMPUTE_STATUS_DISABLED"
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

SLOTS_KEY = "novaflow:max_concurrent_live_migrations"
RATIO_KEYS = {
    "cpu": "cpu_allocation_ratio",
    "ram": "ram_allocation_ratio",
    "disk": "disk_allocation_ratio",
}

T = TypeVar("T")


def _mv(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


class _EvacuableServer(sdk_server.Server):
    """The sdk's Server, with its actions capped at 2.94.

    From 2.95 Nova leaves an evacuated instance SHUTOFF on its new host; novaflow promises that
    an ACTIVE instance comes back ACTIVE. The cap also holds when clouds.yaml sets a
    compute_api_version, because here the version is a matter of semantics, not of taste.
    """

    _max_microversion = _mv(MV_EVACUATE)

    @classmethod
    def _get_microversion(cls, session: Any) -> str | None:
        return sdk_utils.maximum_supported_microversion(session, cls._max_microversion)


def _server(instance_id: str) -> sdk_server.Server:
    """The server an action is sent to, as a bare sdk resource.

    Handed an id, the sdk's compute proxy builds a resource bound to the connection, and
    such a resource works out its "location" (the current project, from the auth plugin,
    twice, behind a lock every thread of the run shares). Actions need only the id; with
    hundreds of moves in flight that lock was a good part of each move's time."""
    return sdk_server.Server.new(id=instance_id)


class _ServerGroupPage(sdk_server_group.ServerGroup):
    """The sdk's ServerGroup, able to ask for a page by offset.

    Nova pages os-server-groups with limit/offset and sends no next link; the sdk's resource
    knows only limit/marker, so on its own it would silently stop after the first page.
    """

    _query_mapping = sdk_resource.QueryParameters("all_projects", "offset")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry transient failures: exponential backoff with jitter, bounded."""

    attempts: int = 6
    initial_s: float = 0.5
    max_wait_s: float = 8.0
    budget_s: float = 60.0


@dataclass(frozen=True)
class ServerState:
    """An instance as the mover and observer need it: the model plus the raw state bits."""

    instance: Instance
    power_state: int | None = None
    locked_reason: str | None = None
    fault: str | None = None
    updated: str | None = None
    deleted: bool = False

    @property
    def id(self) -> str:
        return self.instance.id

    @property
    def host(self) -> str | None:
        return self.instance.host

    @property
    def status(self) -> str:
        return self.instance.status

    @property
    def task_state(self) -> str | None:
        return self.instance.task_state

    @property
    def settled(self) -> bool:
        """No task in progress and not in a transitional status."""
        return self.task_state is None and self.status not in (
            "MIGRATING",
            "RESIZE",
            "REBUILD",
            "BUILD",
            "REBOOT",
            "HARD_REBOOT",
        )

    @property
    def locked_by_novaflow(self) -> bool:
        return self.instance.locked and (self.locked_reason or "").startswith(NOVAFLOW_LOCK_PREFIX)


@dataclass(frozen=True)
class Migration:
    """A row of os-migrations."""

    id: str
    instance_id: str
    status: str
    migration_type: str | None = None
    source: str | None = None
    dest: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "confirmed", "finished", "done", "reverted")

    @property
    def failed(self) -> bool:
        return self.status in ("error", "failed", "cancelled", "aborted")

    @property
    def in_progress(self) -> bool:
        return not (self.finished or self.failed)


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


class Cloud:
    """One OpenStack cloud, seen with admin credentials. Thread-safe for concurrent moves."""

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
    ) -> Cloud:
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

    # ---------------------------------------------------------------- reading

    def _servers_mv(self) -> str:
        return self._version(MV_SERVERS, MV_SERVERS_MIN, "reading flavors embedded in servers")

    def server_state(self, instance_id: str) -> ServerState | None:
        """One instance now; None when it no longer exists.

        Read as JSON like the listings (`_server_bodies`): every move reads its instance at
        least once, and an sdk `Server` costs ~5 ms of CPU to build, the whole budget of a
        move's orchestration when a thousand of them run in one process.
        """
        mv = self._servers_mv()

        def read() -> dict[str, Any]:
            resp = self.conn.compute.get(f"/servers/{instance_id}", microversion=mv)
            openstack.exceptions.raise_from_response(resp)
            return resp.json()["server"]

        body = self._call(f"reading instance {self.label(instance_id)}", read, ok_404=True)
        if body is None:
            return None
        state = _state_from_body(body)
        self._names[state.id] = state.instance.name
        return None if state.deleted else state

    def server(self, instance_id: str) -> Instance | None:
        state = self.server_state(instance_id)
        return state.instance if state else None

    def _server_bodies(
        self, *, host: str | None = None, changes_since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Servers of every project as Nova's JSON (`GET /servers/detail`, paged).

        Servers listings are the one place novaflow does not use openstacksdk resources:
        building one sdk `Server` costs ~7 ms (its attribute machinery; cProfile, openstacksdk
        4.22), so a 200-host / 5,000-instance snapshot took 33-37 s, nearly all of it there,
        against the < 3 s that issue 3 asks for (read as JSON: ~1.2-1.5 s, measured with
        `python -m bench.snapshot --compare-sdk`), and the observer, whose cycle lists every
        server changed since the last one, spent ~2 s a cycle with 500 moves in flight
        (`python -m bench.observation`). The request still goes through the sdk's compute proxy
        (same session, token renewal, endpoint, request counting) with the microversion the
        sdk path uses for servers, retried by `_call`; errors are raised with the sdk's own
        `raise_from_response`, so they are classified exactly as elsewhere. `server_state`
        reads one server the same way.

        No `limit` is sent: Nova pages at its max_limit and links the next page while a page is
        full (`_json_pages` follows it).
        """
        query: dict[str, Any] = {"all_tenants": "True"}
        if host:
            query["host"] = host
        if changes_since:
            query["changes-since"] = _iso(changes_since)
        what = f"listing servers on {host}" if host else "listing servers"
        return self._json_pages(what, "/servers/detail", "servers", query, self._servers_mv())

    def _json_pages(
        self,
        what: str,
        path: str,
        key: str,
        query: dict[str, Any],
        microversion: str,
        *,
        marker: str = "id",
        paged: bool = True,
    ) -> list[dict[str, Any]]:
        """Every page of a compute listing as JSON, through the sdk's compute proxy.

        Nova links a next page (`<key>_links`) while a page is full; we follow it by marker
        (the last item's `marker` field) rather than by its href, which a cloud behind a proxy
        may spell with the wrong host. A transient failure resumes after the last item read.
        """
        items: list[dict[str, Any]] = []

        def rest() -> list[dict[str, Any]]:
            while True:
                params = dict(query)
                if items:
                    params["marker"] = str(items[-1][marker])
                resp = self.conn.compute.get(path, params=params, microversion=microversion)
                openstack.exceptions.raise_from_response(resp)
                body = resp.json()
                items.extend(body.get(key) or [])
                links = body.get(f"{key}_links") or []
                more = paged and any(link.get("rel") == "next" for link in links)
                if not more or not body.get(key):
                    return items

        self._call(what, rest)
        return items

    def list_servers(
        self, *, host: str | None = None, changes_since: datetime | None = None
    ) -> list[ServerState]:
        """Servers of every project (paged); with changes_since, deleted ones show as DELETED."""
        states = []
        for body in self._server_bodies(host=host, changes_since=changes_since):
            state = _state_from_body(body)
            self._names[state.id] = state.instance.name
            states.append(state)
        return states

    def instances_on(self, host: str) -> list[Instance]:
        """The instances Nova places on `host` right now (one paged list call)."""
        return [s.instance for s in self.list_servers(host=host) if not s.deleted]

    def list_migrations(
        self, *, instance_id: str | None = None, changes_since: datetime | None = None
    ) -> list[Migration]:
        """Migrations of every instance (or one), as JSON like the servers listing: an sdk
        `Migration` resource costs ~0.4 ms to build and the observer lists one per move in
        flight each cycle."""
        mv = self._version(MV_MIGRATIONS, MV_MIGRATIONS_MIN, "listing migrations")
        query: dict[str, Any] = {}
        if instance_id:
            query["instance_uuid"] = instance_id
        # Before 2.59 os-migrations has no paging nor changes-since: one call returns every row.
        paged = self.max_version >= MV_MIGRATIONS_PAGED
        if changes_since and paged:
            query["changes-since"] = _iso(changes_since)
        what = (
            f"listing migrations of {self.label(instance_id)}"
            if instance_id
            else "listing migrations"
        )
        rows = self._json_pages(
            what, "/os-migrations", "migrations", query, mv, marker="uuid", paged=paged
        )
        return [_migration_from_body(m) for m in rows]

    def latest_migration(self, instance_id: str) -> Migration | None:
        """The most recent migration of an instance (to adopt one found in progress)."""
        migs = self.list_migrations(instance_id=instance_id)
        return max(
            migs,
            key=lambda m: (m.created_at or datetime.min.replace(tzinfo=UTC), _int_or(m.id)),
            default=None,
        )

    def nova_reason(
        self, instance_id: str, *, since: datetime | None = None, fault: str | None = None
    ) -> NovaReason | None:
        """Why Nova failed the instance's latest move, in Nova's words.

        Read from the instance action of that move (os-instance-actions) and its events, at
        the newest microversion the cloud allows up to 2.84, where an event carries the
        `details` of its failure; older clouds give the traceback, whose last line names the
        exception. `since` (server time) skips actions of earlier moves; without a failed
        event, the server's `fault` is the reason. Best effort: the move already failed, so a
        failure to read why is no reason to fail differently.
        """
        what = f"reading the instance actions of {self.label(instance_id)}"
        try:
            actions = self._call(what, lambda: list(self.conn.compute.server_actions(instance_id)))
            ours = [
                a
                for a in actions or []
                if a.action in MOVE_ACTIONS and _after(_action_time(a), since)
            ]
            latest = max(ours, key=_action_time, default=None)
            detail = (
                self._call(
                    what,
                    self.conn.compute.get_server_action,
                    latest.request_id,
                    instance_id,
                    ignore_missing=False,
                )
                if latest is not None
                else None
            )
        except CloudError:
            detail = None
        reason = _reason_from_action(detail) if detail is not None else None
        if reason is None and fault:
            return NovaReason(fault, where="fault")
        return reason

    def groups_of(self, instance_id: str) -> list[ServerGroup]:
        """The server groups the instance is a member of, from one (paged) listing of every
        group: read only to explain a NoValidHost, where the group's rule may be the cause."""
        try:
            return [g for g in self._server_groups() if instance_id in g.members]
        except CloudError:
            return []

    # ---------------------------------------------------------------- snapshot

    def snapshot(self, *, live_migration_slots: int = 1) -> Snapshot:
        """The whole cloud in five compute list calls (plus paging) and Placement's view of
        capacity: three Placement list calls and one inventory read per compute node (in a
        bounded pool), never one call per instance. Placement is read beside Nova, not after
        it: the two are separate services, so the snapshot waits for the slower, not the sum.

        Services, groups and aggregates are sdk resources (per host and few); servers and
        hypervisors are read as JSON (`_server_bodies`, `_json_pages`).
        """
        taken_at = datetime.now(UTC)
        with ThreadPoolExecutor(1, thread_name_prefix="placement-view") as beside:
            placement = beside.submit(self._placement_view)
            services = self._service_bodies()
            hv_mv = self._version(MV_HYPERVISORS, MV_HYPERVISORS_MIN, "paged hypervisors")
            what = "listing hypervisors"
            hypervisors = self._json_pages(what, "/os-hypervisors/detail", "hypervisors", {}, hv_mv)
            bodies = self._server_bodies()
            groups = self._server_groups()
            aggregates = self._call(
                "listing aggregates", lambda: list(self.conn.compute.aggregates())
            )
            providers = placement.result()
        member_of: dict[str, list[str]] = {}
        for g in groups:
            for m in g.members:
                member_of.setdefault(m, []).append(g.id)
        instances = []
        for body in bodies:
            if body.get("status") == "DELETED":
                continue
            inst = _instance_from_body(body, member_of)
            self._names[inst.id] = inst.name
            instances.append(inst)
        hosts = self._hosts(
            services, hypervisors, aggregates or [], providers, live_migration_slots
        )
        hosts = _with_cells(hosts, aggregates or [])
        return Snapshot(
            taken_at=taken_at,
            cloud=self.name,
            hosts=hosts,
            instances=instances,
            server_groups=groups,
            features=CloudFeatures(
                max_microversion=_mv(self.max_version),
                numa_live_migration=self.max_version >= (2, 79),
            ),
        )

    def _server_groups(self) -> list[ServerGroup]:
        mv = _mv(min(MV_GROUPS, self.max_version))

        def page_at(offset: int) -> list[_ServerGroupPage]:
            return list(
                _ServerGroupPage.list(
                    self.conn.compute,
                    paginated=False,
                    microversion=mv,
                    all_projects=True,
                    limit=self.page_size,
                    offset=offset,
                )
            )

        out: list[ServerGroup] = []
        while True:
            page = self._call("listing server groups", page_at, len(out)) or []
            for g in page:
                policy = g.policy or (g.policies or ["anti-affinity"])[0]
                out.append(
                    ServerGroup(
                        id=str(g.id),
                        name=g.name or "",
                        policy=policy,
                        members=list(g.member_ids or []),
                        project_id=g.project_id,
                        rules=_group_rules(g.rules),
                    )
                )
            if len(page) < self.page_size:
                return out

    def _hosts(
        self,
        services: list[dict[str, Any]],
        hypervisors: list[dict[str, Any]],
        aggregates: list[sdk_aggregate.Aggregate],
        providers: dict[str, _Provider],
        slots: int,
    ) -> list[Host]:
        """Each compute service with its node's Placement provider.

        A provider is the compute node: its uuid is the hypervisor id (2.53+) and its name
        the hypervisor_hostname, which may differ from the service host, so the hypervisors
        list maps one to the other.
        """
        by_name = {p.name: p for p in providers.values() if p.parent is None}
        node_of: dict[str, _Provider] = {}
        for hv in hypervisors:
            host = (hv.get("service") or {}).get("host") or hv.get("hypervisor_hostname")
            p = providers.get(str(hv.get("id"))) or by_name.get(hv.get("hypervisor_hostname"))
            if host and p is not None and p.parent is None:
                node_of.setdefault(host, p)
        nested_of: dict[str, list[_Provider]] = {}
        for p in providers.values():
            if p.uuid != p.root:
                nested_of.setdefault(p.root, []).append(p)
        aggregates_of: dict[str, list[sdk_aggregate.Aggregate]] = {}
        for agg in aggregates:
            for member in dict.fromkeys(agg.hosts or []):
                aggregates_of.setdefault(member, []).append(agg)
        hosts = []
        for svc in services:
            name = svc["host"]
            aggs = aggregates_of.get(name, [])
            node = node_of.get(name) or by_name.get(name)
            hosts.append(
                Host(
                    name=name,
                    service_id=str(svc["id"]),
                    state=svc.get("state") or "up",
                    status=svc.get("status") or "enabled",
                    disabled_reason=svc.get("disabled_reason"),
                    forced_down=bool(svc.get("forced_down")),
                    zone=svc.get("zone") or "nova",
                    aggregates=[a.name or "" for a in aggs],
                    max_concurrent_live_migrations=_slots(aggs, slots),
                    aggregate_ratios=_aggregate_ratios(aggs),
                    **_placement_fields(node, nested_of),
                )
            )
        return sorted(hosts, key=lambda h: h.name)

    # ---------------------------------------------------------------- placement

    def _placement_mv(self) -> str:
        """The Placement microversion to send: 1.29, lowered to the service's maximum."""
        if self._placement_max is None:
            data = self._call(
                "finding the Placement API", lambda: self.conn.placement.get_endpoint_data()
            )
            mv = getattr(data, "max_microversion", None) if data else None
            self._placement_max = (int(mv[0]), int(mv[1])) if mv else (1, 0)
        if self._placement_max < PLACEMENT_MV_MIN:
            raise UnsupportedByCloud(
                f"cloud {self.name!r} has Placement up to {_mv(self._placement_max)}, but "
                f"reading capacity needs {_mv(PLACEMENT_MV_MIN)}",
                "upgrade Placement (Queens or later)",
            )
        return _mv(min(PLACEMENT_MV, self._placement_max))

    def _placement_get(self, what: str, path: str, **params: str) -> dict[str, Any]:
        """One Placement read as JSON. The URL is made absolute from the endpoint found once:
        keystoneauth otherwise looks the endpoint up in the catalog on every request (a deep
        copy of it each time), a fifth of the client's CPU per inventory read."""
        mv = self._placement_mv()
        if self._placement_url is None:
            self._placement_url = (self.conn.placement.get_endpoint() or "").rstrip("/")
        url = f"{self._placement_url}{path}"

        def read() -> dict[str, Any]:
            resp = self.conn.placement.get(url, params=params, microversion=mv)
            openstack.exceptions.raise_from_response(resp)
            return resp.json()

        return self._call(what, read) or {}

    def _placement_view(self) -> dict[str, _Provider]:
        """Every resource provider with its inventories, usages and whether it is disabled.

        Bulk reads first: the provider list, the disabled ones (a `required` filter), and the
        provider summaries of allocation candidates, which give the usage of every provider
        tree with room for one vCPU. Inventories (total, reserved, ratio, min/max_unit,
        step_size) have no bulk read, so they are read per provider in a bounded pool, with
        the usages of the few providers (full ones) the summaries did not cover.
        """
        listed = self._placement_get("listing resource providers", "/resource_providers")
        providers = {
            p["uuid"]: _Provider(
                uuid=p["uuid"],
                name=p.get("name") or "",
                parent=p.get("parent_provider_uuid"),
                root=p.get("root_provider_uuid") or p["uuid"],
            )
            for p in listed.get("resource_providers") or []
        }
        top = self._placement_max or PLACEMENT_MV_MIN  # known after the first read
        if top >= (1, 18):
            disabled = self._placement_get(
                "listing disabled resource providers",
                "/resource_providers",
                required=DISABLED_TRAIT,
            )
            for p in disabled.get("resource_providers") or []:
                if p["uuid"] in providers:
                    providers[p["uuid"]].disabled = True
        used: dict[str, dict[str, int]] = {}
        if top >= (1, 10):
            summaries = (
                self._placement_get(
                    "reading allocation candidates", "/allocation_candidates", resources="VCPU:1"
                ).get("provider_summaries")
                or {}
            )
            for uuid, summary in summaries.items():
                res = summary.get("resources") or {}
                used[uuid] = {rc: int(r.get("used") or 0) for rc, r in res.items()}

        def fill(p: _Provider) -> None:
            body = self._placement_get(
                f"reading inventories of {p.name}", f"/resource_providers/{p.uuid}/inventories"
            )
            p.inventories = body.get("inventories") or {}
            if p.uuid in used and set(p.inventories) <= set(used[p.uuid]):
                p.used = used[p.uuid]
            else:
                p.used = (
                    self._placement_get(
                        f"reading usages of {p.name}", f"/resource_providers/{p.uuid}/usages"
                    ).get("usages")
                    or {}
                )

        with ThreadPoolExecutor(PLACEMENT_POOL, thread_name_prefix="placement") as pool:
            list(pool.map(fill, providers.values()))
        return providers

    # ---------------------------------------------------------------- services

    def _services(self, host: str | None = None) -> list[sdk_service.Service]:
        mv = self._version(MV_SERVICES, MV_SERVICES, "service UUIDs")
        query: dict[str, Any] = {"binary": "nova-compute", "microversion": mv}
        if host:
            query["host"] = host
        what = f"finding the compute service of {host}" if host else "listing compute services"
        found = self._call(what, lambda: list(self.conn.compute.services(**query))) or []
        return [s for s in found if host is None or s.host == host]

    def _service_bodies(self) -> list[dict[str, Any]]:
        """Every compute service as JSON. The snapshot reads one per host, and an sdk
        `Service` costs ~0.8 ms of CPU to build (1,000 hosts: 0.8 s), the JSON nothing."""
        mv = self._version(MV_SERVICES, MV_SERVICES, "service UUIDs")
        query = {"binary": "nova-compute"}
        found = self._json_pages(
            "listing compute services", "/os-services", "services", query, mv, paged=False
        )
        return [s for s in found if s.get("binary", "nova-compute") == "nova-compute"]

    def _service(self, host: str) -> sdk_service.Service:
        found = self._services(host)
        if not found:
            raise CloudError(
                f"no nova-compute service on host {host}",
                "check the host name with: openstack compute service list",
            )
        return found[0]

    def disable_service(self, host: str, reason: str) -> None:
        """Disable with `reason`, also a service that is already disabled (by us or anyone).

        Nova (2.53+) refuses a body that carries disabled_reason without status ("No updates
        were requested"). The sdk's disable_service sends only the attributes that differ from
        the service it is given, so on an already disabled service it sent the reason alone.
        A service resource that knows nothing but its id makes both part of the body.
        """
        service = self._service(host)
        self._call(
            f"disabling the compute service of {host}",
            self.conn.compute.update_service,
            sdk_service.Service.existing(id=service.id),
            status="disabled",
            disabled_reason=reason,
        )

    def enable_service(self, host: str) -> None:
        service = self._service(host)
        self._call(
            f"enabling the compute service of {host}", self.conn.compute.enable_service, service
        )

    def force_down(self, host: str, down: bool = True) -> None:
        service = self._service(host)
        self._call(
            f"{'forcing down' if down else 'unsetting forced-down on'} {host}",
            self.conn.compute.update_service_forced_down,
            service,
            forced=down,
        )

    def compute_service(self, host: str) -> ComputeService:
        """The nova-compute service of `host` now: state, status and last heartbeat, with
        the cloud's clock at the time of reading (its Date header), to compare them with."""
        svc = self._service(host)
        return ComputeService(
            host=host,
            state=svc.state or "down",
            status=svc.status or "enabled",
            updated_at=parse_time(getattr(svc, "updated_at", None)),
            forced_down=bool(svc.is_forced_down),
            disabled_reason=svc.disabled_reason,
            read_at=self.server_time() or datetime.now(UTC),
            zone=svc.availability_zone or "nova",
        )

    def hypervisor_uptime(self, host: str) -> timedelta | None:
        """How long `host` has been up, from its hypervisor's `uptime` (Nova 2.88+); None when
        the cloud is older, or the compute service is down and Nova cannot ask it."""
        if self.max_version < MV_UPTIME:
            return None
        path = f"/os-hypervisors/detail?hypervisor_hostname_pattern={host}"

        def read() -> list[dict[str, Any]]:
            resp = self.conn.compute.get(path, microversion=_mv(MV_UPTIME))
            openstack.exceptions.raise_from_response(resp)
            return resp.json().get("hypervisors") or []

        found = self._call(f"reading the uptime of {host}", read, ok_404=True) or []
        mine = [h for h in found if h.get("hypervisor_hostname") == host]
        return parse_uptime(mine[0].get("uptime")) if mine else None

    def boot_on_host(self, host: str, zone: str, name: str) -> str:
        """Boot a small instance (smallest flavor, first image, no network) on `host`; its id.

        The host is named the admin's forced way, `zone:host`, which bypasses the scheduler's
        filters: the host is still disabled while it is checked, and a 2.74 `host` request
        goes through ComputeFilter, which refuses disabled hosts.
        """
        flavors = self._call("listing flavors", lambda: list(self.conn.compute.flavors())) or []
        images = self._call("listing images", lambda: list(self.conn.image.images())) or []
        if not flavors or not images:
            raise CloudError(
                f"cannot boot a canary on {host}: the cloud has no "
                + ("flavor" if not flavors else "image"),
                "create a small flavor and image, or run without the canary",
            )
        flavor = min(flavors, key=lambda f: (f.vcpus or 0, f.ram or 0, f.disk or 0))
        body = {
            "server": {
                "name": name,
                "flavorRef": flavor.id,
                "imageRef": images[0].id,
                "availability_zone": f"{zone}:{host}",
                "networks": "none",
                "metadata": {"novaflow": "canary"},
            }
        }

        def create() -> str:
            resp = self.conn.compute.post("/servers", json=body, microversion="2.37")
            openstack.exceptions.raise_from_response(resp)
            return str(resp.json()["server"]["id"])

        server_id = self._call(f"booting a canary on {host}", create)
        assert server_id is not None
        self._names[server_id] = name
        return server_id

    def delete_server(self, instance_id: str) -> None:
        self._call(
            f"deleting {self.label(instance_id)}",
            self.conn.compute.delete_server,
            instance_id,
            ok_404=True,
        )

    # ---------------------------------------------------------------- server actions

    def _move_action(
        self, what: str, instance_id: str, from_host: str | None, fn: Callable[[], Any]
    ) -> None:
        """Send a move (live, cold, evacuate) and retry it only if Nova did not take it.

        A reply lost on the way back (a reset connection, a gateway timeout) looks like any
        transient failure, yet Nova may have accepted the move; sending it again would, once
        the first move ends, move the instance a second time. So after such a failure the
        instance is read before the retry: busy with a task, or no longer on `from_host`
        (where it was when we asked), means the first request was taken.
        """
        unanswered = False

        def once() -> None:
            nonlocal unanswered
            if unanswered and from_host is not None:
                now = self.server_state(instance_id)
                if now is None or now.task_state is not None or now.host != from_host:
                    return  # accepted (or deleted meanwhile): the mover's wait takes it on
            unanswered = False
            try:
                fn()
            except ks_exc.ConnectionError:
                unanswered = True
                raise
            except openstack.exceptions.HttpException as exc:
                unanswered = exc.status_code in (502, 504)
                raise

        self._call(what, once)

    def live_migrate(
        self, instance_id: str, target: str | None = None, from_host: str | None = None
    ) -> None:
        """Live-migrate; with a target, Nova's scheduler still checks it (2.30+, no force)."""
        if target:
            self._version(MV_LIVE, MV_LIVE, "live migration to a host the scheduler checks")
        else:
            self._version(MV_LIVE_MIN, MV_LIVE_MIN, "live migration with block_migration=auto")
        self._move_action(
            f"live migration of {self.label(instance_id)} to {target or 'a scheduler-chosen host'}",
            instance_id,
            from_host,
            lambda: self.conn.compute.live_migrate_server(
                _server(instance_id), host=target, block_migration="auto"
            ),
        )

    def cold_migrate(
        self, instance_id: str, target: str | None = None, from_host: str | None = None
    ) -> None:
        if target:
            self._version(MV_COLD_HOST, MV_COLD_HOST, "cold migration to a named host")
        self._move_action(
            f"cold migration of {self.label(instance_id)} to {target or 'a scheduler-chosen host'}",
            instance_id,
            from_host,
            lambda: self.conn.compute.migrate_server(_server(instance_id), host=target),
        )

    def confirm_resize(self, instance_id: str) -> None:
        self._call(
            f"confirming the migration of {self.label(instance_id)}",
            self.conn.compute.confirm_server_resize,
            _server(instance_id),
        )

    def revert_resize(self, instance_id: str) -> None:
        self._call(
            f"reverting the migration of {self.label(instance_id)}",
            self.conn.compute.revert_server_resize,
            _server(instance_id),
        )

    def evacuate(
        self, instance_id: str, target: str | None = None, from_host: str | None = None
    ) -> None:
        """Rebuild on another host; capped below 2.95 so an ACTIVE instance comes back ACTIVE."""
        self._version(MV_EVACUATE, MV_EVACUATE_MIN, "evacuation without onSharedStorage")
        self._move_action(
            f"evacuation of {self.label(instance_id)} to {target or 'a scheduler-chosen host'}",
            instance_id,
            from_host,
            lambda: self.conn.compute.evacuate_server(
                _EvacuableServer.new(id=instance_id), host=target
            ),
        )

    def abort_live_migration(self, instance_id: str, migration_id: str) -> None:
        self._version(MV_ABORT, MV_ABORT, "aborting a live migration")
        self._call(
            f"aborting live migration {migration_id} of {self.label(instance_id)}",
            self.conn.compute.abort_server_migration,
            migration_id,
            _server(instance_id),
            ignore_missing=False,
        )

    def force_complete_live_migration(self, instance_id: str, migration_id: str) -> None:
        self._version(MV_FORCE_COMPLETE, MV_FORCE_COMPLETE, "force-completing a migration")
        self._call(
            f"force-completing live migration {migration_id} of {self.label(instance_id)}",
            self.conn.compute.force_complete_server_migration,
            migration_id,
            _server(instance_id),
        )

    def lock(self, instance_id: str, reason: str) -> None:
        """Lock with a reason (2.73+) so a later run can tell our lock from the owner's."""
        reason_ok = self.max_version >= MV_LOCK_REASON
        self._call(
            f"locking {self.label(instance_id)}",
            self.conn.compute.lock_server,
            _server(instance_id),
            locked_reason=reason if reason_ok else None,
        )

    def unlock(self, instance_id: str) -> None:
        self._call(
            f"unlocking {self.label(instance_id)}",
            self.conn.compute.unlock_server,
            _server(instance_id),
        )

    def reset_state(self, instance_id: str, state: str = "active") -> None:
        self._call(
            f"resetting the state of {self.label(instance_id)} to {state}",
            self.conn.compute.reset_server_state,
            _server(instance_id),
            state,
        )

    def start(self, instance_id: str) -> None:
        self._call(
            f"starting {self.label(instance_id)}",
            self.conn.compute.start_server,
            _server(instance_id),
        )

    def stop(self, instance_id: str) -> None:
        self._call(
            f"stopping {self.label(instance_id)}",
            self.conn.compute.stop_server,
            _server(instance_id),
        )

    # ---------------------------------------------------------------- observing

    def observer(self, **settings: Any) -> Any:
        """The one batched observer of this cloud (created on first use)."""
        from novaflow.observer import Observer

        with self._observer_lock:
            if self._observer is None:
                self._observer = Observer(self, **settings)
            return self._observer

    def close(self) -> None:
        if self._observer is not None:
            self._observer.stop()
        self.conn.close()


def _instance_from_body(body: dict[str, Any], groups: dict[str, list[str]]) -> Instance:
    """An Instance from one server of `GET /servers/detail` (2.47+: flavor embedded).

    Reads the fields the sdk's `Server` resource maps, with the same meaning (tests compare
    the two on the same cloud).
    """
    f = body.get("flavor") or {}
    flavor = Flavor(
        name=str(f.get("original_name") or f.get("id") or "?"),
        vcpus=int(f.get("vcpus") or 0),
        ram_mb=int(f.get("ram") or 0),
        disk_gb=int(f.get("disk") or 0),
        ephemeral_gb=int(f.get("ephemeral") or 0),
        swap_mb=int(f.get("swap") or 0),
        extra_specs={k: str(v) for k, v in (f.get("extra_specs") or {}).items()},
    )
    image = body.get("image")
    # A boot-from-volume server has image "" in Nova.
    image_id = (image.get("id") if isinstance(image, dict) else None) or None
    volumes = [
        str(v["id"]) for v in body.get("os-extended-volumes:volumes_attached") or [] if v.get("id")
    ]
    addresses = {
        net: [a["addr"] for a in entries if "addr" in a]
        for net, entries in (body.get("addresses") or {}).items()
    }
    sid = str(body["id"])
    return Instance(
        id=sid,
        name=body.get("name") or "",
        project_id=body.get("tenant_id") or "",
        host=body.get("OS-EXT-SRV-ATTR:host"),
        status=body.get("status") or "UNKNOWN",
        task_state=body.get("OS-EXT-STS:task_state"),
        vm_state=body.get("OS-EXT-STS:vm_state"),
        zone=body.get("OS-EXT-AZ:availability_zone") or None,
        flavor=flavor,
        image_id=image_id,
        boot_from_volume=not image_id,
        volumes=volumes,
        server_groups=groups.get(sid, []),
        metadata={k: str(v) for k, v in (body.get("metadata") or {}).items()},
        addresses=addresses,
        locked=bool(body.get("locked")),
        config_drive=str(body.get("config_drive") or "").lower() in ("true", "1"),
        pinned_zone=body.get("pinned_availability_zone") or None,
    )


def _group_rules(rules: dict[str, Any] | None) -> dict[str, int]:
    """A server group's 2.64 rules as integers (Nova's only rule, max_server_per_host)."""
    out: dict[str, int] = {}
    for key, value in (rules or {}).items():
        try:
            out[str(key)] = int(value)
        except (TypeError, ValueError):
            continue
    return out


CELL_KEY = "cell"
"""Aggregate metadata naming the Nova cell of its hosts. Nova's API shows no cell, so an
operator who runs several cells tags one aggregate per cell (the hosts of
`nova-manage cell_v2 list_hosts`); novaflow then keeps moves inside a cell as Nova does."""


def _with_cells(hosts: list[Host], aggregates: list[sdk_aggregate.Aggregate]) -> list[Host]:
    """Hosts with the cell their aggregates' `cell` metadata names (unchanged where none does)."""
    cell_of: dict[str, str] = {}
    for agg in aggregates:
        cell = (agg.metadata or {}).get(CELL_KEY)
        if cell:
            for name in agg.hosts or []:
                cell_of.setdefault(name, str(cell))
    if not cell_of:
        return hosts
    return [
        h.model_copy(update={"cell": cell_of[h.name]}) if h.name in cell_of else h for h in hosts
    ]


def _state_from_body(body: dict[str, Any]) -> ServerState:
    """A ServerState from one server of `GET /servers/detail` or `GET /servers/{id}`."""
    fault = body.get("fault")
    return ServerState(
        instance=_instance_from_body(body, {}),
        power_state=body.get("OS-EXT-STS:power_state"),
        locked_reason=body.get("locked_reason"),
        fault=str(fault.get("message")) if isinstance(fault, dict) else None,
        updated=body.get("updated"),
        deleted=body.get("status") == "DELETED",
    )


def _migration_from_body(m: dict[str, Any]) -> Migration:
    """A Migration from one row of `GET /os-migrations`.

    `id` is Nova's integer id, which the per-server migration URLs (abort, force-complete)
    take; the uuid is only the paging marker.
    """
    return Migration(
        id=str(m.get("id")),
        instance_id=m.get("instance_uuid") or "",
        status=str(m.get("status") or "").lower(),
        migration_type=m.get("migration_type"),
        source=m.get("source_compute"),
        dest=m.get("dest_compute"),
        created_at=parse_time(m.get("created_at")),
        updated_at=parse_time(m.get("updated_at")),
    )


MOVE_ACTIONS = ("live-migration", "migrate", "evacuate", "resize")
"""Instance actions that record a move (os-instance-actions `action`)."""


def _action_time(action: Any) -> datetime:
    """When an action last changed (2.58 updated_at), else when it started."""
    t = parse_time(getattr(action, "updated_at", None) or action.start_time)
    return t or datetime.min.replace(tzinfo=UTC)


def _after(t: datetime, since: datetime | None) -> bool:
    # Nova's timestamps may be whole seconds: an action in the same second counts as ours.
    return since is None or t >= since.replace(microsecond=0)


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _reason_from_action(action: Any) -> NovaReason | None:
    """The first failed event of an action, in Nova's words: 2.84 details, else the last line
    of its traceback (the root cause: later events fail because the first one did)."""
    failed = [e for e in action.events or [] if str(_field(e, "result") or "").lower() == "error"]
    failed.sort(key=lambda e: str(_field(e, "start_time") or ""))
    for event in failed:
        details = _field(event, "details")
        message, exception = last_line(_field(event, "traceback"))
        if details:
            message, where = str(details), "details"
        else:
            where = "traceback"
        if message:
            return NovaReason(
                " ".join(message.split()),
                where=where,
                event=_field(event, "event"),
                exception=exception,
                request_id=action.request_id,
                host=_field(event, "host"),
            )
    return None


def _int_or(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _aggregate_ratios(aggs: list[sdk_aggregate.Aggregate]) -> dict[str, float]:
    """Ratios set in aggregate metadata (the lowest where several set one). Nova's scheduler
    no longer reads them; they are kept only to tell the operator where they disagree with
    Placement."""
    values: dict[str, float] = {}
    for kind, key in RATIO_KEYS.items():
        found = [_float((a.metadata or {}).get(key)) for a in aggs]
        found = [f for f in found if f and f > 0]
        if found:
            values[kind] = min(found)
    return values


@dataclass
class _Provider:
    """A resource provider as read from Placement, before it becomes part of a Host."""

    uuid: str
    name: str
    parent: str | None
    root: str
    disabled: bool = False
    inventories: dict[str, dict[str, Any]] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)

    def inventory(self) -> dict[str, Inventory]:
        return {
            rc: Inventory(
                total=int(inv.get("total") or 0),
                reserved=int(inv.get("reserved") or 0),
                allocation_ratio=float(inv.get("allocation_ratio") or 1.0),
                min_unit=int(inv.get("min_unit") or 1),
                max_unit=inv.get("max_unit"),
                step_size=int(inv.get("step_size") or 1),
                used=int(self.used.get(rc) or 0),
            )
            for rc, inv in self.inventories.items()
        }


def _placement_fields(
    node: _Provider | None, nested_of: dict[str, list[_Provider]]
) -> dict[str, Any]:
    """Host fields from a compute node's provider (none: a node that never reported, which
    the scheduler cannot use either) and the providers nested under it (`nested_of`, by
    root uuid)."""
    if node is None:
        return {"capacity": Resources()}
    inventory = node.inventory()

    def amounts(of: Callable[[Inventory], float]) -> Resources:
        return Resources(
            **{
                field_name: of(inventory[rc]) if rc in inventory else 0
                for rc, field_name in STANDARD_RESOURCES.items()
            }
        )

    def ratio(rc: str) -> float:
        return inventory[rc].allocation_ratio if rc in inventory else 1.0

    nested = [
        NestedProvider(name=p.name, uuid=p.uuid, inventory=p.inventory())
        for p in nested_of.get(node.uuid, [])
    ]
    return {
        "capacity": amounts(lambda i: i.total),
        "reserved": amounts(lambda i: i.reserved),
        "used": amounts(lambda i: i.used),
        "ratios": AllocationRatios(
            cpu=ratio("VCPU"), ram=ratio("MEMORY_MB"), disk=ratio("DISK_GB")
        ),
        "inventory": inventory,
        "nested": sorted(nested, key=lambda n: n.name),
        "placement_disabled": node.disabled,
    }


def _slots(aggs: list[sdk_aggregate.Aggregate], default: int) -> int:
    found = [_float((a.metadata or {}).get(SLOTS_KEY)) for a in aggs]
    found = [int(f) for f in found if f and f >= 1]
    return min(found) if found else max(1, default)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


__all__ = [
    "NOVAFLOW_LOCK_PREFIX",
    "Cloud",
    "Counters",
    "Migration",
    "RetryPolicy",
    "ServerState",
]


@dataclass(frozen=True)
class ComputeService:
    """A nova-compute service as the return-to-service check reads it."""

    host: str
    state: str
    status: str
    updated_at: datetime | None
    forced_down: bool
    disabled_reason: str | None
    read_at: datetime
    """The cloud's own clock when this was read (heartbeats are in that clock)."""
    zone: str = "nova"

    @property
    def up(self) -> bool:
        return self.state == "up" and not self.forced_down


_UPTIME = re.compile(r"up\s+(?:(\d+)\s+days?,\s*)?(?:(\d+):(\d+)|(\d+)\s+min)")


def parse_uptime(text: str | None) -> timedelta | None:
    """The span of a Linux `uptime` line (" 02:31:05 up 3 days, 4:05, ..."), to the minute
    below; None for anything else."""
    found = _UPTIME.search(text or "")
    if not found:
        return None
    days, hours, minutes, only_minutes = (int(g) if g else 0 for g in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes + only_minutes)
