"""Reading servers, migrations, server groups and the reasons Nova gives for a failure.

Servers and migrations (the snapshot's, the observer's and the mover's reads) are read as JSON
through the sdk compute proxy, because building sdk resources is too slow for thousands of
instances (see `Reads._server_bodies`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import openstack
import openstack.config
import openstack.exceptions
from openstack import resource as sdk_resource
from openstack.compute.v2 import server_group as sdk_server_group

from novaflow.cloud.session import (
    MV_GROUPS,
    MV_MIGRATIONS,
    MV_MIGRATIONS_MIN,
    MV_MIGRATIONS_PAGED,
    MV_SERVERS,
    MV_SERVERS_MIN,
    NOVAFLOW_LOCK_PREFIX,
    Session,
    _iso,
    _mv,
    parse_time,
)
from novaflow.errors import (
    CloudError,
)
from novaflow.models import (
    Flavor,
    Instance,
    ServerGroup,
)
from novaflow.refusals import NovaReason, last_line


class _ServerGroupPage(sdk_server_group.ServerGroup):
    """The sdk's ServerGroup, able to ask for a page by offset.

    Nova pages os-server-groups with limit/offset and sends no next link; the sdk's resource
    knows only limit/marker, so on its own it would silently stop after the first page.
    """

    _query_mapping = sdk_resource.QueryParameters("all_projects", "offset")


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


class Reads(Session):
    """What the planner, the mover and the observer read of servers and migrations."""

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
        self,
        *,
        host: str | None = None,
        changes_since: datetime | None = None,
        pages: list[int] | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Servers of every project as Nova's JSON (`GET /servers/detail`, paged; with
        `newest_first`, the latest updated first: `sort_key=updated_at`).

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
        if newest_first:
            query.update(sort_key="updated_at", sort_dir="desc")
        what = f"listing servers on {host}" if host else "listing servers"
        return self._json_pages(
            what, "/servers/detail", "servers", query, self._servers_mv(), pages=pages
        )

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
        pages: list[int] | None = None,
    ) -> list[dict[str, Any]]:
        """Every page of a compute listing as JSON, through the sdk's compute proxy.

        Nova links a next page (`<key>_links`) while a page is full; we follow it by marker
        (the last item's `marker` field) rather than by its href, which a cloud behind a proxy
        may spell with the wrong host. A transient failure resumes after the last item read.
        `pages`, if given, receives how many items each page held (see Observer._advance).
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
                if pages is not None:
                    pages.append(len(body.get(key) or []))
                links = body.get(f"{key}_links") or []
                more = paged and any(link.get("rel") == "next" for link in links)
                if not more or not body.get(key):
                    return items

        self._call(what, rest)
        return items

    def list_servers(
        self,
        *,
        host: str | None = None,
        changes_since: datetime | None = None,
        pages: list[int] | None = None,
        newest_first: bool = False,
    ) -> list[ServerState]:
        """Servers of every project (paged); with changes_since, deleted ones show as DELETED.
        `pages` receives how many servers each page held; `newest_first` sorts by updated."""
        states = []
        bodies = self._server_bodies(
            host=host, changes_since=changes_since, pages=pages, newest_first=newest_first
        )
        for body in bodies:
            state = _state_from_body(body)
            self._names[state.id] = state.instance.name
            states.append(state)
        return states

    def instances_on(self, host: str) -> list[Instance]:
        """The instances Nova places on `host` right now (one paged list call)."""
        return [s.instance for s in self.list_servers(host=host) if not s.deleted]

    def list_migrations(
        self,
        *,
        instance_id: str | None = None,
        changes_since: datetime | None = None,
        pages: list[int] | None = None,
    ) -> list[Migration]:
        """Migrations of every instance (or one), as JSON like the servers listing: an sdk
        `Migration` resource costs ~0.4 ms to build and the observer lists one per move in
        flight each cycle. `pages` receives how many migrations each page held."""
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
            what, "/os-migrations", "migrations", query, mv, marker="uuid", paged=paged, pages=pages
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
