"""The only code that talks to OpenStack: snapshots, compute actions and retries (openstacksdk).

Every request goes through `Cloud._call`, which pins a microversion (negotiated against the
cloud's maximum), retries transient failures with tenacity, turns permanent failures into
`CloudError`s that name the instance and host, and counts the requests made so benchmarks can
show that a snapshot or a poll cycle costs a constant number of API calls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import keystoneauth1.exceptions as ks_exc
import openstack
import openstack.config
import openstack.exceptions
import tenacity

from novaflow.errors import (
    BadRequest,
    CloudError,
    TransientCloudError,
    UnsupportedByCloud,
)
from novaflow.models import (
    AllocationRatios,
    CloudFeatures,
    Flavor,
    Host,
    Instance,
    Resources,
    ServerGroup,
    Snapshot,
)

# Microversions, chosen per call. Each is the version whose semantics we rely on.
MV_SERVERS = (2, 73)  # embedded flavor + extra_specs (2.47), locked_reason (2.73)
MV_SERVERS_MIN = (2, 47)
MV_HYPERVISORS = (2, 87)  # last one with vcpus / memory_mb / local_gb; paged since 2.33
MV_SERVICES = (2, 53)  # service UUIDs and PUT /os-services/{id}; forced_down there too
MV_GROUPS = (2, 64)  # `policy` (string) instead of `policies`
MV_MIGRATIONS = (2, 80)  # changes-since and paging (2.59), uuid, user/project ids
MV_MIGRATIONS_MIN = (2, 23)  # migration_type
MV_LIVE = (2, 30)  # block_migration "auto" (2.25); a given host is checked by the scheduler
MV_LIVE_MIN = (2, 25)
MV_COLD_HOST = (2, 56)  # cold migration to a named host
MV_EVACUATE = (2, 94)  # last before 2.95, where evacuated instances end SHUTOFF
MV_EVACUATE_MIN = (2, 14)  # no onSharedStorage: Nova detects shared storage itself
MV_ABORT = (2, 24)
MV_FORCE_COMPLETE = (2, 22)
MV_LOCK_REASON = (2, 73)

NOVAFLOW_LOCK_PREFIX = "novaflow:"
"""Every lock novaflow takes carries a reason starting with this, so a re-run can tell its own
lock (left by a crashed run, to be released) from one the instance's owner set (to be kept)."""

SLOTS_KEY = "novaflow:max_concurrent_live_migrations"
RATIO_KEYS = {
    "cpu": "cpu_allocation_ratio",
    "ram": "ram_allocation_ratio",
    "disk": "disk_allocation_ratio",
}


def _mv(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


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
    """Requests made, for benchmarks (`api_calls`: ours, `http_requests`: incl. Keystone)."""

    api_calls: int = 0
    http_requests: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bump(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _nova_message(resp: Any) -> str:
    """The human message inside a Nova / Keystone error body, or the raw text."""
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or resp.reason or "").strip()[:500]
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
        if "message" in body:
            return str(body["message"])
        if "detail" in body:
            return str(body["detail"])
    return str(body)[:500]


def _is_transient(status: int, message: str) -> bool:
    if status in (429, 502, 503, 504) or (status >= 500 and status != 501):
        return True
    # 409 "while it is in task_state ..." clears by itself; a locked instance or a vm_state
    # conflict (ERROR, SHELVED...) does not.
    return status == 409 and "task_state" in message and "locked" not in message.lower()


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
        self.page_size = page_size
        self.counters = Counters()
        self._names: dict[str, str] = {}
        self._local = threading.local()
        self._observer: Any = None
        self._observer_lock = threading.Lock()
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
            conn.session.get_token()
        except ks_exc.Unauthorized as exc:
            raise CloudError(
                f"authentication failed for cloud {label!r}",
                "check the username, password, project and domain in clouds.yaml",
            ) from exc
        except (ks_exc.ConnectionError, ks_exc.DiscoveryFailure) as exc:
            raise CloudError(
                f"cannot reach the identity service of cloud {label!r}: {type(exc).__name__}",
                "check auth_url in clouds.yaml and that the cloud is reachable",
            ) from exc
        except (ks_exc.ClientException, openstack.exceptions.SDKException) as exc:
            raise CloudError(
                f"cannot open cloud {label!r}: {type(exc).__name__}",
                "check the entry in clouds.yaml",
            ) from exc
        return cls(conn, name=wanted or "", retry=retry)

    def _discover_max_version(self) -> tuple[int, int]:
        try:
            data = self.conn.compute.get_endpoint_data()
        except ks_exc.ClientException as exc:
            raise CloudError(
                f"cannot find the compute API of cloud {self.name!r}: {exc}",
                "check the service catalog and that the admin user can see Nova",
            ) from exc
        mv = getattr(data, "max_microversion", None) if data else None
        return (int(mv[0]), int(mv[1])) if mv else (2, 1)

    def _count_http(self) -> None:
        """Count every HTTP request (Keystone included) with a requests response hook."""
        raw = getattr(self.conn.session, "session", None)
        if raw is None:
            return
        raw.hooks.setdefault("response", []).append(
            lambda r, *a, **k: self.counters.bump("http_requests")
        )

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
        self,
        method: str,
        path: str,
        *,
        what: str,
        microversion: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        ok_404: bool = False,
    ) -> Any:
        """One Nova request with retries; returns the decoded body (None when empty / 404)."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.attempts)
            | tenacity.stop_after_delay(self.retry.budget_s),
            wait=tenacity.wait_exponential_jitter(
                initial=self.retry.initial_s, max=self.retry.max_wait_s
            ),
            retry=tenacity.retry_if_exception_type(TransientCloudError),
            before_sleep=lambda _s: self.counters.bump("retries"),
            reraise=True,
        )
        try:
            return retrying(self._once, method, path, what, microversion, json, params, ok_404)
        except TransientCloudError as exc:
            raise CloudError(
                f"{exc.what} (gave up after {self.retry.attempts} attempts)",
                "the cloud is failing; check Nova's health and retry later",
            ) from exc

    def _once(
        self,
        method: str,
        path: str,
        what: str,
        microversion: str | None,
        json: Any,
        params: dict[str, Any] | None,
        ok_404: bool,
    ) -> Any:
        self.counters.bump("api_calls")
        self._local.api_calls = self.thread_api_calls() + 1
        kwargs: dict[str, Any] = {"microversion": microversion, "connect_retries": 0}
        if json is not None:
            kwargs["json"] = json
        if params:
            kwargs["params"] = params
        try:
            resp = self.conn.compute.request(path, method, **kwargs)
        except ks_exc.ConnectionError as exc:
            raise TransientCloudError(f"{what}: cannot reach Nova ({type(exc).__name__})") from exc
        except ks_exc.Unauthorized as exc:
            raise CloudError(
                f"{what}: authentication failed for cloud {self.name!r}",
                "check the credentials in clouds.yaml",
            ) from exc
        self._remember_date(resp)
        status = resp.status_code
        if status < 400:
            if status == 204 or not resp.content:
                return None
            try:
                return resp.json()
            except ValueError:
                return None
        if status == 404 and ok_404:
            return None
        message = _nova_message(resp)
        if _is_transient(status, message):
            raise TransientCloudError(f"{what} failed (HTTP {status}): {message}")
        raise self._permanent(status, message, what)

    def _permanent(self, status: int, message: str, what: str) -> CloudError:
        if status == 401:
            return CloudError(
                f"{what}: authentication failed for cloud {self.name!r}",
                "check the credentials in clouds.yaml",
            )
        if status == 403:
            return CloudError(
                f"{what} was refused (HTTP 403): {message}",
                "novaflow needs admin credentials (see the Nova policy rules in the docs)",
            )
        if status == 406:
            return UnsupportedByCloud(
                f"{what}: the cloud does not accept the microversion (HTTP 406): {message}",
                "upgrade Nova or use a method this cloud supports",
            )
        return CloudError(f"{what} failed (HTTP {status}): {message}", None)

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

    def _paged(
        self, path: str, key: str, *, what: str, microversion: str, params: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Follow `<key>_links` next links (marker paging) until the list ends."""
        query = {**params, "limit": self.page_size}
        while True:
            body = self._call("GET", path, what=what, microversion=microversion, params=query)
            items = (body or {}).get(key, [])
            yield from items
            nxt = [
                link for link in (body or {}).get(f"{key}_links", []) if link.get("rel") == "next"
            ]
            if not nxt or not items:
                return
            q = parse_qs(urlparse(nxt[0]["href"]).query)
            query = {**query, **{k: v[-1] for k, v in q.items()}}

    # ---------------------------------------------------------------- naming

    def label(self, instance_id: str) -> str:
        """name (short uuid) when we have seen the instance, else the uuid."""
        name = self._names.get(instance_id)
        return f"{name} ({instance_id[:8]})" if name else instance_id

    # ---------------------------------------------------------------- reading

    def _server_from(
        self, raw: dict[str, Any], groups: dict[str, list[str]] | None = None
    ) -> ServerState:
        flavor_raw = raw.get("flavor") or {}
        flavor = Flavor(
            name=str(flavor_raw.get("original_name") or flavor_raw.get("id") or "?"),
            vcpus=int(flavor_raw.get("vcpus") or 0),
            ram_mb=int(flavor_raw.get("ram") or 0),
            disk_gb=int(flavor_raw.get("disk") or 0),
            ephemeral_gb=int(flavor_raw.get("ephemeral") or 0),
            swap_mb=int(flavor_raw.get("swap") or 0),
            extra_specs={k: str(v) for k, v in (flavor_raw.get("extra_specs") or {}).items()},
        )
        image = raw.get("image")
        image_id = image.get("id") if isinstance(image, dict) else None
        volumes = [v["id"] for v in raw.get("os-extended-volumes:volumes_attached") or []]
        addresses = {
            net: [a["addr"] for a in entries if "addr" in a]
            for net, entries in (raw.get("addresses") or {}).items()
        }
        sid = raw["id"]
        self._names[sid] = raw.get("name", "")
        inst = Instance(
            id=sid,
            name=raw.get("name", ""),
            project_id=raw.get("tenant_id") or raw.get("project_id") or "",
            host=raw.get("OS-EXT-SRV-ATTR:host"),
            status=raw.get("status", "UNKNOWN"),
            task_state=raw.get("OS-EXT-STS:task_state"),
            vm_state=raw.get("OS-EXT-STS:vm_state"),
            zone=raw.get("OS-EXT-AZ:availability_zone") or None,
            flavor=flavor,
            image_id=image_id,
            boot_from_volume=not image_id,
            volumes=volumes,
            server_groups=(groups or {}).get(sid, []),
            metadata={k: str(v) for k, v in (raw.get("metadata") or {}).items()},
            addresses=addresses,
            locked=bool(raw.get("locked")),
            config_drive=str(raw.get("config_drive", "")).lower() in ("true", "1"),
        )
        fault = raw.get("fault")
        return ServerState(
            instance=inst,
            power_state=raw.get("OS-EXT-STS:power_state"),
            locked_reason=raw.get("locked_reason"),
            fault=fault.get("message") if isinstance(fault, dict) else None,
            updated=raw.get("updated"),
            deleted=raw.get("status") == "DELETED" or bool(raw.get("deleted")),
        )

    def _servers_mv(self) -> str:
        return self._version(MV_SERVERS, MV_SERVERS_MIN, "reading flavors embedded in servers")

    def server_state(self, instance_id: str) -> ServerState | None:
        """One instance now; None when it no longer exists."""
        body = self._call(
            "GET",
            f"/servers/{instance_id}",
            what=f"reading instance {self.label(instance_id)}",
            microversion=self._servers_mv(),
            ok_404=True,
        )
        if not body or "server" not in body:
            return None
        state = self._server_from(body["server"])
        return None if state.deleted else state

    def server(self, instance_id: str) -> Instance | None:
        state = self.server_state(instance_id)
        return state.instance if state else None

    def list_servers(
        self, *, host: str | None = None, changes_since: datetime | None = None
    ) -> list[ServerState]:
        """Servers of every project (paged); with changes_since, deleted ones show as DELETED."""
        params: dict[str, Any] = {"all_tenants": "True"}
        if host:
            params["host"] = host
        if changes_since:
            params["changes-since"] = changes_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raws = self._paged(
            "/servers/detail",
            "servers",
            what="listing servers",
            microversion=self._servers_mv(),
            params=params,
        )
        return [self._server_from(r) for r in raws]

    def instances_on(self, host: str) -> list[Instance]:
        """The instances Nova places on `host` right now (one paged list call)."""
        return [s.instance for s in self.list_servers(host=host) if not s.deleted]

    def list_migrations(
        self, *, instance_id: str | None = None, changes_since: datetime | None = None
    ) -> list[Migration]:
        mv = self._version(MV_MIGRATIONS, MV_MIGRATIONS_MIN, "listing migrations")
        params: dict[str, Any] = {}
        if instance_id:
            params["instance_uuid"] = instance_id
        if changes_since and self.max_version >= (2, 59):
            params["changes-since"] = changes_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        what = (
            f"listing migrations of {self.label(instance_id)}"
            if instance_id
            else ("listing migrations")
        )
        if self.max_version >= (2, 59):
            raws = list(
                self._paged(
                    "/os-migrations", "migrations", what=what, microversion=mv, params=params
                )
            )
        else:
            body = self._call("GET", "/os-migrations", what=what, microversion=mv, params=params)
            raws = (body or {}).get("migrations", [])
        return [self._migration_from(r) for r in raws]

    @staticmethod
    def _migration_from(raw: dict[str, Any]) -> Migration:
        return Migration(
            id=str(raw.get("id")),
            instance_id=raw.get("instance_uuid", ""),
            status=str(raw.get("status", "")).lower(),
            migration_type=raw.get("migration_type"),
            source=raw.get("source_compute"),
            dest=raw.get("dest_compute"),
            created_at=_parse_time(raw.get("created_at")),
            updated_at=_parse_time(raw.get("updated_at")),
        )

    def latest_migration(self, instance_id: str) -> Migration | None:
        """The most recent migration of an instance (to adopt one found in progress)."""
        migs = self.list_migrations(instance_id=instance_id)
        return max(
            migs,
            key=lambda m: (m.created_at or datetime.min.replace(tzinfo=UTC), _int_or(m.id)),
            default=None,
        )

    # ---------------------------------------------------------------- snapshot

    def snapshot(
        self, *, ratios: AllocationRatios | None = None, live_migration_slots: int = 1
    ) -> Snapshot:
        """The whole cloud in five list calls (plus paging), never one call per host/instance."""
        default = ratios or AllocationRatios()
        taken_at = datetime.now(UTC)
        services = self._call(
            "GET",
            "/os-services",
            what="listing compute services",
            microversion=self._version(MV_SERVICES, MV_SERVICES, "service UUIDs"),
            params={"binary": "nova-compute"},
        )["services"]
        hypervisors = list(
            self._paged(
                "/os-hypervisors/detail",
                "hypervisors",
                what="listing hypervisors",
                microversion=self._version(MV_HYPERVISORS, (2, 33), "paged hypervisors"),
                params={},
            )
        )
        servers = list(
            self._paged(
                "/servers/detail",
                "servers",
                what="listing servers",
                microversion=self._servers_mv(),
                params={"all_tenants": "True"},
            )
        )
        groups = self._server_groups()
        aggregates = self._call(
            "GET", "/os-aggregates", what="listing aggregates", microversion="2.1"
        ).get("aggregates", [])
        member_of: dict[str, list[str]] = {}
        for g in groups:
            for m in g.members:
                member_of.setdefault(m, []).append(g.id)
        instances = [
            s.instance for s in (self._server_from(r, member_of) for r in servers) if not s.deleted
        ]
        hosts = self._hosts(
            services, hypervisors, aggregates, instances, default, live_migration_slots
        )
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
        out: list[ServerGroup] = []
        offset = 0
        while True:
            body = self._call(
                "GET",
                "/os-server-groups",
                what="listing server groups",
                microversion=mv,
                params={"all_projects": "True", "limit": self.page_size, "offset": offset},
            )
            page = (body or {}).get("server_groups", [])
            for g in page:
                policy = g.get("policy") or (g.get("policies") or ["anti-affinity"])[0]
                out.append(
                    ServerGroup(
                        id=g["id"],
                        name=g.get("name", ""),
                        policy=policy,
                        members=list(g.get("members") or []),
                        project_id=g.get("project_id"),
                    )
                )
            if len(page) < self.page_size:
                return out
            offset += len(page)

    def _hosts(
        self,
        services: list[dict[str, Any]],
        hypervisors: list[dict[str, Any]],
        aggregates: list[dict[str, Any]],
        instances: list[Instance],
        default: AllocationRatios,
        slots: int,
    ) -> list[Host]:
        capacity: dict[str, Resources] = {}
        for hv in hypervisors:
            name = (hv.get("service") or {}).get("host") or hv.get("hypervisor_hostname")
            res = Resources(
                vcpus=hv.get("vcpus") or 0,
                ram_mb=hv.get("memory_mb") or 0,
                disk_gb=hv.get("local_gb") or 0,
            )
            capacity[name] = capacity.get(name, Resources()) + res
        used: dict[str, Resources] = {}
        for inst in instances:
            if inst.host:
                used[inst.host] = used.get(inst.host, Resources()) + inst.resources
        hosts = []
        for svc in services:
            name = svc["host"]
            aggs = [a for a in aggregates if name in (a.get("hosts") or [])]
            hosts.append(
                Host(
                    name=name,
                    service_id=str(svc["id"]),
                    state=svc.get("state", "up"),
                    status=svc.get("status", "enabled"),
                    disabled_reason=svc.get("disabled_reason"),
                    forced_down=bool(svc.get("forced_down")),
                    zone=svc.get("zone") or "nova",
                    aggregates=[a.get("name", "") for a in aggs],
                    capacity=capacity.get(name, Resources()),
                    ratios=_ratios(aggs, default),
                    used=used.get(name, Resources()),
                    max_concurrent_live_migrations=_slots(aggs, slots),
                )
            )
        return sorted(hosts, key=lambda h: h.name)

    # ---------------------------------------------------------------- services

    def _service_id(self, host: str) -> str:
        body = self._call(
            "GET",
            "/os-services",
            what=f"finding the compute service of {host}",
            microversion=self._version(MV_SERVICES, MV_SERVICES, "service UUIDs"),
            params={"binary": "nova-compute", "host": host},
        )
        found = [s for s in (body or {}).get("services", []) if s.get("host") == host]
        if not found:
            raise CloudError(
                f"no nova-compute service on host {host}",
                "check the host name with: openstack compute service list",
            )
        return str(found[0]["id"])

    def _update_service(self, host: str, body: dict[str, Any], what: str) -> None:
        sid = self._service_id(host)
        self._call(
            "PUT",
            f"/os-services/{sid}",
            what=what,
            json=body,
            microversion=self._version(MV_SERVICES, MV_SERVICES, "service updates"),
        )

    def disable_service(self, host: str, reason: str) -> None:
        self._update_service(
            host,
            {"status": "disabled", "disabled_reason": reason},
            f"disabling the compute service of {host}",
        )

    def enable_service(self, host: str) -> None:
        self._update_service(host, {"status": "enabled"}, f"enabling the compute service of {host}")

    def force_down(self, host: str, down: bool = True) -> None:
        self._update_service(
            host,
            {"forced_down": down},
            f"{'forcing down' if down else 'unsetting forced-down on'} {host}",
        )

    # ---------------------------------------------------------------- server actions

    def _action(self, instance_id: str, body: dict[str, Any], what: str, mv: str) -> None:
        self._call("POST", f"/servers/{instance_id}/action", what=what, json=body, microversion=mv)

    def live_migrate(self, instance_id: str, target: str | None = None) -> None:
        """Live-migrate; with a target, Nova's scheduler still checks it (2.30+, no force)."""
        mv = self._version(MV_LIVE, MV_LIVE_MIN, "live migration with block_migration=auto")
        self._action(
            instance_id,
            {"os-migrateLive": {"host": target, "block_migration": "auto"}},
            f"live migration of {self.label(instance_id)} to {target or 'a scheduler-chosen host'}",
            mv,
        )

    def cold_migrate(self, instance_id: str, target: str | None = None) -> None:
        if target:
            mv = self._version(MV_COLD_HOST, MV_COLD_HOST, "cold migration to a named host")
            body: dict[str, Any] = {"migrate": {"host": target}}
        else:
            mv, body = "2.1", {"migrate": None}
        self._action(
            instance_id,
            body,
            f"cold migration of {self.label(instance_id)} to {target or 'a scheduler-chosen host'}",
            mv,
        )

    def confirm_resize(self, instance_id: str) -> None:
        self._action(
            instance_id,
            {"confirmResize": None},
            f"confirming the migration of {self.label(instance_id)}",
            "2.1",
        )

    def revert_resize(self, instance_id: str) -> None:
        self._action(
            instance_id,
            {"revertResize": None},
            f"reverting the migration of {self.label(instance_id)}",
            "2.1",
        )

    def evacuate(self, instance_id: str, target: str | None = None) -> None:
        """Rebuild on another host; pinned below 2.95 so an ACTIVE instance comes back ACTIVE."""
        mv = self._version(MV_EVACUATE, MV_EVACUATE_MIN, "evacuation without onSharedStorage")
        body: dict[str, Any] = {"evacuate": {"host": target} if target else {}}
        self._action(
            instance_id,
            body,
            f"evacuation of {self.label(instance_id)} to {target or 'a scheduler-chosen host'}",
            mv,
        )

    def abort_live_migration(self, instance_id: str, migration_id: str) -> None:
        mv = self._version(MV_ABORT, MV_ABORT, "aborting a live migration")
        self._call(
            "DELETE",
            f"/servers/{instance_id}/migrations/{migration_id}",
            what=f"aborting live migration {migration_id} of {self.label(instance_id)}",
            microversion=mv,
        )

    def force_complete_live_migration(self, instance_id: str, migration_id: str) -> None:
        mv = self._version(MV_FORCE_COMPLETE, MV_FORCE_COMPLETE, "force-completing a migration")
        self._call(
            "POST",
            f"/servers/{instance_id}/migrations/{migration_id}/action",
            json={"force_complete": None},
            microversion=mv,
            what=f"force-completing live migration {migration_id} of {self.label(instance_id)}",
        )

    def lock(self, instance_id: str, reason: str) -> None:
        """Lock with a reason (2.73+) so a later run can tell our lock from the owner's."""
        if self.max_version >= MV_LOCK_REASON:
            body: dict[str, Any] = {"lock": {"locked_reason": reason}}
            mv = _mv(MV_LOCK_REASON)
        else:
            body, mv = {"lock": None}, "2.1"
        self._action(instance_id, body, f"locking {self.label(instance_id)}", mv)

    def unlock(self, instance_id: str) -> None:
        self._action(instance_id, {"unlock": None}, f"unlocking {self.label(instance_id)}", "2.1")

    def reset_state(self, instance_id: str, state: str = "active") -> None:
        self._action(
            instance_id,
            {"os-resetState": {"state": state}},
            f"resetting the state of {self.label(instance_id)} to {state}",
            "2.1",
        )

    def start(self, instance_id: str) -> None:
        self._action(instance_id, {"os-start": None}, f"starting {self.label(instance_id)}", "2.1")

    def stop(self, instance_id: str) -> None:
        self._action(instance_id, {"os-stop": None}, f"stopping {self.label(instance_id)}", "2.1")

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


def _int_or(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _ratios(aggs: list[dict[str, Any]], default: AllocationRatios) -> AllocationRatios:
    """Aggregate metadata overrides the run default; where several set it, the lowest wins
    (as Nova's aggregate filters did)."""
    values: dict[str, float] = {}
    for kind, key in RATIO_KEYS.items():
        found = [_float(a.get("metadata", {}).get(key)) for a in aggs]
        found = [f for f in found if f and f > 0]
        values[kind] = min(found) if found else getattr(default, kind)
    return AllocationRatios(**values)


def _slots(aggs: list[dict[str, Any]], default: int) -> int:
    found = [_float(a.get("metadata", {}).get(SLOTS_KEY)) for a in aggs]
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
