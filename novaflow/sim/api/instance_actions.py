"""os-instance-actions: the per-server log of requests and how each of their steps ended."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Depends, Request

from novaflow.sim.api.deps import api_guard, cloud_of, mv, ok
from novaflow.sim.errors import not_found
from novaflow.sim.microversion import Version
from novaflow.sim.model import ActionEvent, InstanceAction
from novaflow.sim.state import SimCloud
from novaflow.sim.views.common import iso_us

router = APIRouter(prefix="/compute/v2.1", dependencies=[Depends(api_guard)])


CONDUCTOR_HOST = "sim-controller"
"""The host of nova-conductor, where the conductor_* events of an action happen."""


def _traceback(e: ActionEvent) -> str:
    """A failed event's traceback as Nova formats it: the raising class on the last line."""
    return (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3/dist-packages/nova/compute/utils.py", line 1439, in '
        "decorated_function\n    return function(self, context, *args, **kwargs)\n"
        f"nova.exception.{e.exception or 'NovaException'}: {e.details or ''}\n"
    )


def _view(cloud: SimCloud, a: InstanceAction, v: Version, events: bool) -> dict[str, object]:
    body: dict[str, object] = {
        "action": a.action,
        "instance_uuid": a.instance_id,
        "message": a.message,
        "project_id": a.project_id,
        "request_id": a.request_id,
        "start_time": iso_us(cloud, a.start),
        "user_id": a.user_id,
    }
    if v >= (2, 58):
        body["updated_at"] = iso_us(cloud, a.updated)
    if events:
        out = []
        # Nova lists an action's events newest first.
        for _, e in sorted(enumerate(a.events), key=lambda p: (p[1].start, p[0]), reverse=True):
            ev: dict[str, object] = {
                "event": e.event,
                "start_time": iso_us(cloud, e.start),
                "finish_time": iso_us(cloud, e.finish),
                "result": e.result,
                "traceback": None if e.result == "Success" else _traceback(e),
            }
            if v >= (2, 62):
                # Conductor steps run on the control plane: Nova names the service's host.
                host = e.host or CONDUCTOR_HOST
                ev["host"] = host
                ev["hostId"] = hashlib.sha224((a.project_id + host).encode()).hexdigest()
            if v >= (2, 84):
                ev["details"] = e.details
            out.append(ev)
        body["events"] = out
    return body


@router.get("/servers/{server_id}/os-instance-actions")
async def list_actions(request: Request, server_id: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        inst = cloud.instance(server_id)
        actions = sorted(cloud.actions.get(inst.id, []), key=lambda a: a.start, reverse=True)
        views = [_view(cloud, a, mv(request), events=False) for a in actions]
    return ok({"instanceActions": views})


@router.get("/servers/{server_id}/os-instance-actions/{request_id}")
async def show_action(request: Request, server_id: str, request_id: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        inst = cloud.instance(server_id)
        for a in cloud.actions.get(inst.id, []):
            if a.request_id == request_id:
                return ok({"instanceAction": _view(cloud, a, mv(request), events=True)})
    raise not_found(f"Action for request_id {request_id} on instance {server_id} not found")
