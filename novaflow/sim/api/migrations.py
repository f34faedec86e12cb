"""Migration routes: per-server live migrations (show, abort, force-complete) and /os-migrations."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from novaflow.sim import moves
from novaflow.sim.api.deps import (
    api_guard,
    authorize,
    cloud_of,
    compute_base,
    empty,
    instance_of,
    json_body,
    mv,
    ok,
)
from novaflow.sim.api.paging import page
from novaflow.sim.errors import bad_request, not_found
from novaflow.sim.microversion import Version
from novaflow.sim.model import Migration
from novaflow.sim.timeparse import parse_filter_time
from novaflow.sim.views.migrations import os_migration, server_migration

router = APIRouter(prefix="/compute/v2.1", dependencies=[Depends(api_guard)])
_DONE = ("confirmed", "reverted", "error", "failed", "completed", "cancelled", "done")


def _require(request: Request, v: Version, rule: str) -> None:
    if mv(request) < v:
        raise not_found("The resource could not be found.")
    authorize(request, f"os_compute_api:servers:migrations:{rule}")


def _in_progress_live(ms: list[Migration]) -> list[Migration]:
    return [m for m in ms if m.migration_type == "live-migration" and m.status not in _DONE]


@router.get("/servers/{server_id}/migrations")
async def list_server_migrations(request: Request, server_id: str) -> object:
    _require(request, (2, 23), "index")
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        ms = _in_progress_live(cloud.migrations_of(inst.id))
        return ok({"migrations": [server_migration(cloud, m, mv(request)) for m in ms]})


def _server_live(request: Request, server_id: str, migration_id: str) -> tuple[object, Migration]:
    cloud = cloud_of(request)
    inst = instance_of(request, server_id)
    for m in _in_progress_live(cloud.migrations_of(inst.id)):
        if migration_id in (str(m.id), m.uuid):
            return inst, m
    raise not_found(
        f"In-progress live migration {migration_id} is not found for server {server_id}."
    )


@router.get("/servers/{server_id}/migrations/{migration_id}")
async def show_server_migration(request: Request, server_id: str, migration_id: str) -> object:
    _require(request, (2, 23), "show")
    cloud = cloud_of(request)
    with cloud.lock:
        _, m = _server_live(request, server_id, migration_id)
        return ok({"migration": server_migration(cloud, m, mv(request))})


@router.delete("/servers/{server_id}/migrations/{migration_id}")
async def abort_server_migration(request: Request, server_id: str, migration_id: str) -> object:
    _require(request, (2, 24), "delete")
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        m = moves.find_migration(cloud, inst, migration_id)
        moves.abort_live(cloud, inst, m, allow_queued=mv(request) >= (2, 65))
    return empty(202)


@router.post("/servers/{server_id}/migrations/{migration_id}/action")
async def server_migration_action(request: Request, server_id: str, migration_id: str) -> object:
    _require(request, (2, 22), "force_complete")
    body = await json_body(request)
    if list(body) != ["force_complete"]:
        raise bad_request(f"There is no such action: {', '.join(body) or None}")
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        m = moves.find_migration(cloud, inst, migration_id)
        moves.force_complete(cloud, inst, m)
    return empty(202)


@router.get("/os-migrations")
async def list_migrations(request: Request) -> object:
    authorize(request, "os_compute_api:os-migrations:index")
    q = request.query_params
    v = mv(request)
    cloud = cloud_of(request)
    with cloud.lock:
        ms = list(cloud.migrations.values())
        if "host" in q:
            ms = [m for m in ms if q["host"] in (m.source_compute, m.dest_compute)]
        for field in ("status", "source_compute", "migration_type", "instance_uuid"):
            if field in q:
                attr = "instance_id" if field == "instance_uuid" else field
                ms = [m for m in ms if getattr(m, attr) == q[field]]
        if "changes-since" in q and v >= (2, 59):
            since = parse_filter_time(q["changes-since"], "changes-since")
            ms = [m for m in ms if cloud.time(m.updated) >= since]
        if "changes-before" in q and v >= (2, 66):
            before = parse_filter_time(q["changes-before"], "changes-before")
            ms = [m for m in ms if cloud.time(m.updated) <= before]
        ms.sort(key=lambda m: (m.created, m.id), reverse=True)
        links = None
        if v >= (2, 59):
            ms, links = page(
                request, ms, key=lambda m: m.uuid, not_found="Marker {marker} could not be found."
            )
        base = compute_base(request)
        body: dict[str, object] = {"migrations": [os_migration(cloud, m, base, v) for m in ms]}
        if links:
            body["migrations_links"] = links
        return ok(body)
