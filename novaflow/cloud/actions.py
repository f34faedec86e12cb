"""The actions: compute services, moves (live, cold, evacuate), locks, power, the observer."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import keystoneauth1.exceptions as ks_exc
import openstack
import openstack.config
import openstack.exceptions
from openstack import utils as sdk_utils
from openstack.compute.v2 import server as sdk_server
from openstack.compute.v2 import service as sdk_service

from novaflow.cloud.reads import Reads
from novaflow.cloud.session import (
    MV_ABORT,
    MV_COLD_HOST,
    MV_EVACUATE,
    MV_EVACUATE_MIN,
    MV_FORCE_COMPLETE,
    MV_LIVE,
    MV_LIVE_MIN,
    MV_LOCK_REASON,
    MV_SERVICES,
    MV_UPTIME,
    _mv,
    parse_time,
)
from novaflow.errors import (
    CloudError,
)


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


class Actions(Reads):
    """Everything novaflow changes in the cloud, each call through `_call`'s retries."""

    # ---------------------------------------------------------------- services

    def _services(self, host: str | None = None) -> list[sdk_service.Service]:
        mv = self._version(MV_SERVICES, MV_SERVICES, "service UUIDs")
        query: dict[str, Any] = {"binary": "nova-compute", "microversion": mv}
        if host:
            query["host"] = host
        what = f"finding the compute service of {host}" if host else "listing compute services"
        found = self._call(what, lambda: list(self.conn.compute.services(**query))) or []
        return [s for s in found if host is None or s.host == host]

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

    def boot_canary(self, name: str, zone: str) -> str:
        """Boot a small instance (smallest flavor, first image, no network) in `zone`, where
        the scheduler puts it; its id. See novaflow/canary.py for why not on a named host."""
        flavors = self._call("listing flavors", lambda: list(self.conn.compute.flavors())) or []
        images = self._call("listing images", lambda: list(self.conn.image.images())) or []
        if not flavors or not images:
            raise CloudError(
                f"cannot boot a canary in {zone}: the cloud has no "
                + ("flavor" if not flavors else "image"),
                "create a small flavor and image, or run without the canary",
            )
        flavor = min(flavors, key=lambda f: (f.vcpus or 0, f.ram or 0, f.disk or 0))
        body = {
            "server": {
                "name": name,
                "flavorRef": flavor.id,
                "imageRef": images[0].id,
                "availability_zone": zone,
                "networks": "none",
                "metadata": {"novaflow": "canary"},
            }
        }

        def create() -> str:
            resp = self.conn.compute.post("/servers", json=body, microversion="2.37")
            openstack.exceptions.raise_from_response(resp)
            return str(resp.json()["server"]["id"])

        server_id = self._call(f"booting a canary in {zone}", create)
        assert server_id is not None
        self._names[server_id] = name
        return server_id

    def force_live_migrate(self, instance_id: str, host: str) -> None:
        """Live-migrate onto `host` with `force` (API 2.30-2.67): Nova skips the scheduler,
        its filters and Placement's pre-filters, and copies the allocation onto the host,
        which still has to hold it. Only the canary is moved this way (novaflow/canary.py)."""
        self._version(MV_LIVE, MV_LIVE, "a forced live migration")
        self._call(
            f"forcing {self.label(instance_id)} onto {host}",
            lambda: self.conn.compute.live_migrate_server(
                _server(instance_id), host=host, force=True, block_migration="auto"
            ),
        )

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
