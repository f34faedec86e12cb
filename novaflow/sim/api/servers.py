"""Server routes: list/detail (Nova's filters, paging), show, create, update, delete, metadata."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request

from novaflow.sim import lifecycle
from novaflow.sim.api.deps import (
    api_guard,
    authorize,
    caller,
    cloud_of,
    compute_base,
    empty,
    instance_of,
    is_member,
    json_body,
    mv,
    ok,
    query_bool,
)
from novaflow.sim.api.paging import page
from novaflow.sim.errors import NovaError, bad_request, conflict
from novaflow.sim.model import Instance
from novaflow.sim.state import SimCloud
from novaflow.sim.timeparse import parse_filter_time
from novaflow.sim.views.servers import (
    as_member,
    server_brief,
    server_detail,
    server_updated,
)

router = APIRouter(prefix="/compute/v2.1", dependencies=[Depends(api_guard)])

# status filter -> vm_states it covers; statuses tied to a task state match the status itself.
_STATUS_VM = {
    "ACTIVE": {"active"},
    "SHUTOFF": {"stopped"},
    "PAUSED": {"paused"},
    "ERROR": {"error"},
    "VERIFY_RESIZE": {"resized"},
    "BUILD": {"building"},
    "SUSPENDED": {"suspended"},
    "SHELVED_OFFLOADED": {"shelved_offloaded"},
}
_STATUS_TASK = {"MIGRATING", "RESIZE", "REBUILD", "REVERT_RESIZE"}


def _matches_status(inst: Instance, statuses: list[str]) -> bool:
    for status in statuses:
        s = status.strip().upper()
        if s in _STATUS_TASK and inst.status == s:
            return True
        if inst.vm_state in _STATUS_VM.get(s, ()):
            return True
    return False


def _candidates(cloud: SimCloud, q: Any) -> list[Instance]:
    """Live instances, plus deleted ones where Nova lists them.

    As Nova's servers API: with `changes-since` and no `deleted` filter, deleted instances are
    included (status DELETED) so that pollers see deletions; `deleted=true` (admin) lists only
    deleted ones and `deleted=false` only live ones; otherwise deleted ones never show.
    """
    if "deleted" in q:
        if query_bool(q.get("deleted"), "deleted"):
            return list(cloud.deleted.values())
        return list(cloud.instances.values())
    if "changes-since" in q:
        return [*cloud.instances.values(), *cloud.deleted.values()]
    return list(cloud.instances.values())


def filter_servers(cloud: SimCloud, request: Request, detail: bool = False) -> list[Instance]:
    q = request.query_params
    items = _candidates(cloud, q)
    all_tenants = "all_tenants" in q and query_bool(q.get("all_tenants"), "all_tenants")
    if all_tenants:
        authorize(
            request, f"os_compute_api:servers:{'detail' if detail else 'index'}:get_all_tenants"
        )
    own = caller(request)[0]
    project = q.get("project_id") or q.get("tenant_id") if all_tenants else own
    if project:
        items = [i for i in items if i.project_id == project]
    if "user_id" in q:
        items = [i for i in items if i.user_id == q["user_id"]]
    for param in ("host", "node"):
        if param in q:
            items = [i for i in items if i.host == q[param]]
    if "status" in q:
        statuses = q.getlist("status")
        items = [i for i in items if _matches_status(i, statuses)]
    if "name" in q:
        try:
            pattern = re.compile(q["name"])
            items = [i for i in items if pattern.search(i.name)]
        except re.error:
            items = [i for i in items if q["name"] in i.name]
    if "flavor" in q:
        items = [i for i in items if i.flavor.id == q["flavor"]]
    if "image" in q:
        image = q["image"].rsplit("/", 1)[-1]
        items = [i for i in items if i.image_id == image]
    if "availability_zone" in q:
        items = [i for i in items if i.zone == q["availability_zone"]]
    if "vm_state" in q:
        items = [i for i in items if i.vm_state in q.getlist("vm_state")]
    if "task_state" in q:
        items = [i for i in items if (i.task_state or "") in q.getlist("task_state")]
    if "key_name" in q:
        items = [i for i in items if i.key_name == q["key_name"]]
    if "locked" in q:
        locked = query_bool(q["locked"], "locked")
        items = [i for i in items if i.locked == locked]
    if "uuid" in q:
        items = [i for i in items if i.id == q["uuid"]]
    if "changes-since" in q:
        since = parse_filter_time(q["changes-since"], "changes-since")
        items = [i for i in items if cloud.time(i.updated) >= since]
    return _sorted(items, q)


SORT_KEYS: dict[str, Callable[[Instance], Any]] = {
    "created_at": lambda i: i.created,
    "updated_at": lambda i: i.updated,
    "display_name": lambda i: i.name,
    "uuid": lambda i: i.id,
    "host": lambda i: i.host or "",
    "vm_state": lambda i: i.vm_state,
    "task_state": lambda i: i.task_state or "",
    "launched_at": lambda i: i.launched_at or 0.0,
    "project_id": lambda i: i.project_id,
    "user_id": lambda i: i.user_id,
    "key_name": lambda i: i.key_name or "",
    "availability_zone": lambda i: i.zone or "",
}
"""The sort keys served. Nova accepts a few more (display_description, image_ref...); the
sim answers those with 400 rather than sort wrongly."""

IGNORED_SORT_KEYS = frozenset(
    [
        "architecture",
        "cell_name",
        "cleaned",
        "default_ephemeral_device",
        "default_swap_device",
        "deleted",
        "deleted_at",
        "disable_terminate",
        "ephemeral_gb",
        "ephemeral_key_uuid",
        "id",
        "key_data",
        "launched_on",
        "locked",
        "memory_mb",
        "os_type",
        "reservation_id",
        "root_gb",
        "shutdown_terminate",
        "user_data",
        "vcpus",
        "vm_mode",
    ]
)
"""Keys Nova's servers API takes and drops without a word (schemas/servers.py,
SERVER_LIST_IGNORE_SORT_KEY), with their sort_dir."""


def _sorted(items: list[Instance], q: Any) -> list[Instance]:
    """Nova's order: by `sort_key` (repeatable) each in its `sort_dir` (desc by default),
    then created_at and uuid descending; without a key, newest created first. A poller
    lists `sort_key=updated_at` so that its first page holds the latest changes."""
    dirs = q.getlist("sort_dir")
    keys = q.getlist("sort_key") or (["created_at"] if dirs else [])
    pairs = [(k, dirs[n] if n < len(dirs) else "desc") for n, k in enumerate(keys)]
    order = [(k, d) for k, d in pairs if k not in IGNORED_SORT_KEYS]
    for key, direction in order:
        if key not in SORT_KEYS:
            raise bad_request(f"Invalid input for query parameters sort_key. Value: {key}.")
        if direction not in ("asc", "desc"):
            raise bad_request(f"Invalid input for query parameters sort_dir. Value: {direction}.")
    if not order:
        items.sort(key=lambda i: (i.created, i.id), reverse=True)
        return items
    order += [("created_at", "desc"), ("uuid", "desc")]
    for key, direction in reversed(order):  # stable sorts: the first key sorts last
        items.sort(key=SORT_KEYS[key], reverse=direction == "desc")
    return items
    keys = keys or ["created_at"]
    for key in keys:
        if key not in SORT_KEYS:
            raise bad_request(f"Invalid input for query parameters sort_key. Value: {key}.")
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise bad_request(f"Invalid input for query parameters sort_dir. Value: {direction}.")
    order = [*zip(keys, [*dirs, *["desc"] * len(keys)], strict=False)]
    order += [("created_at", "desc"), ("uuid", "desc")]
    for key, direction in reversed(order):  # stable sorts: the first key sorts last
        items.sort(key=SORT_KEYS[key], reverse=direction == "desc")
    return items


def _shown(request: Request, body: dict[str, object]) -> dict[str, object]:
    return as_member(body, mv(request)) if is_member(request) else body


def _list(request: Request, detail: bool) -> dict[str, object]:
    cloud = cloud_of(request)
    base = compute_base(request)
    with cloud.lock:
        chunk, links = page(request, filter_servers(cloud, request, detail), key=lambda i: i.id)
        servers = [
            _shown(request, server_detail(cloud, i, base, mv(request)))
            if detail
            else server_brief(i, base)
            for i in chunk
        ]
    body: dict[str, object] = {"servers": servers}
    if links:
        body["servers_links"] = links
    return body


@router.get("/servers")
async def list_servers(request: Request) -> object:
    return ok(_list(request, detail=False))


@router.get("/servers/detail")
async def list_servers_detail(request: Request) -> object:
    return ok(_list(request, detail=True))


@router.get("/servers/{server_id}")
async def show_server(request: Request, server_id: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        body = server_detail(cloud, inst, compute_base(request), mv(request), one=True)
        return ok({"server": _shown(request, body)})


@router.post("/servers")
async def create_server(request: Request) -> object:
    body = await json_body(request)
    spec = body.get("server")
    if not isinstance(spec, dict):
        raise bad_request(
            "Invalid input for field/attribute server. 'server' is a required property"
        )
    for required in ("name", "flavorRef"):
        if required not in spec:
            raise bad_request(
                f"Invalid input for field/attribute server. Value: {spec}. "
                f"'{required}' is a required property"
            )
    bdm = spec.get("block_device_mapping_v2") or []
    boots_volume = any(
        str(b.get("boot_index")) == "0" and b.get("destination_type") == "volume" for b in bdm
    )
    image = spec.get("imageRef") or None
    if not image and not boots_volume:
        raise bad_request(
            "Block Device Mapping is Invalid: Boot sequence for the instance and "
            "image/block device mapping combination is not valid."
        )
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    cloud = cloud_of(request)
    with cloud.lock:
        image_id = None
        if image and not boots_volume:
            image_id = str(image).rsplit("/", 1)[-1]
            if image_id not in cloud.images:
                raise bad_request(f"Image {image_id} could not be found.")
        try:
            flavor = cloud.find_flavor(str(spec["flavorRef"]))
        except NovaError:
            raise bad_request(f"Flavor {spec['flavorRef']} could not be found.") from None
        project_id, user_id = caller(request)
        inst = lifecycle.create_server(
            cloud,
            name=str(spec["name"]),
            flavor_ref=flavor.id,
            image_ref=image_id,
            project_id=project_id,
            user_id=user_id,
            availability_zone=spec.get("availability_zone"),
            group_id=hints.get("group"),
            metadata={str(k): str(v) for k, v in (spec.get("metadata") or {}).items()},
            key_name=spec.get("key_name"),
            volumes=sum(1 for b in bdm if b.get("destination_type") == "volume"),
        )
        base = compute_base(request)
        return ok(
            {
                "server": {
                    "id": inst.id,
                    "links": server_brief(inst, base)["links"],
                    "OS-DCF:diskConfig": "MANUAL",
                    "security_groups": [{"name": "default"}],
                    "adminPass": "sim-" + inst.id[:12],
                }
            },
            202,
        )


@router.put("/servers/{server_id}")
async def update_server(request: Request, server_id: str) -> object:
    body = (await json_body(request)).get("server") or {}
    v = mv(request)
    if "pinned_availability_zone" in body and v < (2, 104):
        raise bad_request(
            f"Invalid input for field/attribute server. Value: {body}. Additional properties "
            "are not allowed ('pinned_availability_zone' was unexpected)"
        )
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        if "pinned_availability_zone" in body:
            repin(inst, body["pinned_availability_zone"])
        if "name" in body:
            inst.name = str(body["name"])
        if "description" in body:
            inst.description = body["description"]
        inst.updated = cloud.now
        body = server_updated(cloud, inst, compute_base(request), mv(request))
        return ok({"server": _shown(request, body)})


def repin(inst: Instance, zone: str | None) -> None:
    """2.104: unpin (None), or pin to the zone the server is in now; never move a pin."""
    if zone is None or zone == inst.pinned_az:
        inst.pinned_az = zone
        return
    if inst.pinned_az is not None:
        raise conflict(
            "Cannot change pinned availability zone directly. Unpin first by setting "
            "pinned_availability_zone to null."
        )
    if zone != inst.zone:
        raise conflict(
            f"Server can only be pinned to its current availability zone '{inst.zone}', "
            f"but '{zone}' was requested."
        )
    inst.pinned_az = zone


@router.delete("/servers/{server_id}")
async def delete_server(request: Request, server_id: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        lifecycle.delete_server(cloud, instance_of(request, server_id))
    return empty(204)


@router.get("/servers/{server_id}/metadata")
async def get_metadata(request: Request, server_id: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        return ok({"metadata": dict(instance_of(request, server_id).metadata)})


async def _metadata_body(request: Request) -> dict[str, str]:
    meta = (await json_body(request)).get("metadata")
    if not isinstance(meta, dict):
        raise bad_request("Invalid input for field/attribute metadata.")
    return {str(k): str(v) for k, v in meta.items()}


@router.post("/servers/{server_id}/metadata")
async def update_metadata(request: Request, server_id: str) -> object:
    meta = await _metadata_body(request)
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        inst.metadata.update(meta)
        inst.updated = cloud.now
        return ok({"metadata": dict(inst.metadata)})


@router.put("/servers/{server_id}/metadata")
async def replace_metadata(request: Request, server_id: str) -> object:
    meta = await _metadata_body(request)
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        inst.metadata = meta
        inst.updated = cloud.now
        return ok({"metadata": dict(inst.metadata)})


@router.get("/servers/{server_id}/metadata/{key}")
async def get_metadata_item(request: Request, server_id: str, key: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        if key not in inst.metadata:
            from novaflow.sim.errors import not_found

            raise not_found("Metadata item was not found")
        return ok({"meta": {key: inst.metadata[key]}})


@router.put("/servers/{server_id}/metadata/{key}")
async def set_metadata_item(request: Request, server_id: str, key: str) -> object:
    meta = (await json_body(request)).get("meta")
    if not isinstance(meta, dict) or list(meta) != [key]:
        raise bad_request("Request body and URI mismatch")
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        inst.metadata[key] = str(meta[key])
        inst.updated = cloud.now
        return ok({"meta": {key: inst.metadata[key]}})


@router.delete("/servers/{server_id}/metadata/{key}")
async def delete_metadata_item(request: Request, server_id: str, key: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        if key not in inst.metadata:
            from novaflow.sim.errors import not_found

            raise not_found("Metadata item was not found")
        del inst.metadata[key]
        inst.updated = cloud.now
    return empty(204)
