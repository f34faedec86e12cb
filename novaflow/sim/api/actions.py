"""POST /servers/{id}/action: live/cold migration, resize confirm/revert, evacuate, power, lock."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from novaflow.sim import lifecycle, moves
from novaflow.sim.action_log import start_action
from novaflow.sim.api.deps import (
    api_guard,
    authorize,
    cloud_of,
    empty,
    instance_of,
    json_body,
    mv,
    ok,
)
from novaflow.sim.errors import bad_request
from novaflow.sim.microversion import Version
from novaflow.sim.model import Instance
from novaflow.sim.state import SimCloud

router = APIRouter(prefix="/compute/v2.1", dependencies=[Depends(api_guard)])


def _invalid(action: str, value: object, reason: str) -> Exception:
    return bad_request(f"Invalid input for field/attribute {action}. Value: {value}. {reason}")


def _only(action: str, body: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise _invalid(
            action,
            body,
            "Additional properties are not allowed "
            f"({', '.join(repr(e) for e in extra)} was unexpected)",
        )


def _live(cloud: SimCloud, inst: Instance, body: Any, v: Version) -> object:
    if not isinstance(body, dict):
        raise _invalid("os-migrateLive", body, "None is not of type 'object'")
    required = {"host", "block_migration"} | ({"disk_over_commit"} if v < (2, 25) else set())
    allowed = set(required)
    if (2, 30) <= v < (2, 68):
        allowed.add("force")
    _only("os-migrateLive", body, allowed)
    for key in sorted(required):
        if key not in body:
            raise _invalid("os-migrateLive", body, f"'{key}' is a required property")
    block = body["block_migration"]
    if not (isinstance(block, bool) or (block == "auto" and v >= (2, 25))):
        raise _invalid("os-migrateLive/block_migration", block, "is not valid")
    host = body.get("host")
    force = bool(body.get("force")) if v >= (2, 30) else host is not None
    moves.live_migrate(cloud, inst, host, force)
    return empty(202)


def _migrate(cloud: SimCloud, inst: Instance, body: Any, v: Version) -> object:
    host = None
    if isinstance(body, dict):
        _only("migrate", body, {"host"} if v >= (2, 56) else set())
        host = body.get("host")
    elif body is not None:
        raise _invalid("migrate", body, "is not of type 'object', 'null'")
    moves.cold_migrate(cloud, inst, host)
    return empty(202)


def _evacuate(cloud: SimCloud, inst: Instance, body: Any, v: Version) -> object:
    if not isinstance(body, dict):
        raise _invalid("evacuate", body, "is not of type 'object'")
    allowed = {"host", "adminPass"}
    if v < (2, 14):
        allowed.add("onSharedStorage")
        if "onSharedStorage" not in body:
            raise _invalid("evacuate", body, "'onSharedStorage' is a required property")
    if (2, 29) <= v < (2, 68):
        allowed.add("force")
    _only("evacuate", body, allowed)
    host = body.get("host")
    force = bool(body.get("force")) if v >= (2, 29) else host is not None
    moves.evacuate(cloud, inst, host, force, stop_after=v >= (2, 95))
    if v < (2, 14):
        return ok({"adminPass": body.get("adminPass") or "sim-evacuated"})
    return empty(200)


def _lock(cloud: SimCloud, inst: Instance, body: Any, v: Version) -> object:
    reason = None
    if isinstance(body, dict):
        _only("lock", body, {"locked_reason"} if v >= (2, 73) else set())
        reason = body.get("locked_reason")
    lifecycle.set_lock(cloud, inst, True, reason)
    return empty(202)


def _reset_state(cloud: SimCloud, inst: Instance, body: Any, v: Version) -> object:
    """Nova's admin os-resetState: set vm_state (active or error), clear the task_state."""
    if not isinstance(body, dict):
        raise _invalid("os-resetState", body, "'state' is a required property")
    _only("os-resetState", body, {"state"})
    state = body.get("state")
    if state not in ("active", "error"):
        raise _invalid("state", state, f"{state!r} is not one of ['active', 'error']")
    inst.vm_state, inst.task_state, inst.updated = state, None, cloud.now
    return empty(202)


def _simple(action: str) -> Any:
    def run(cloud: SimCloud, inst: Instance, body: Any, v: Version) -> object:
        if action == "confirmResize":
            moves.confirm_resize(cloud, inst)
            return empty(204)
        if action == "revertResize":
            moves.revert_resize(cloud, inst)
        elif action == "os-stop":
            lifecycle.stop(cloud, inst)
        elif action == "os-start":
            lifecycle.start(cloud, inst)
        elif action == "unlock":
            lifecycle.set_lock(cloud, inst, False)
        return empty(202)

    return run


# Moves log their own actions (with events); these simple ones are logged here.
LOGGED_AS = {
    "os-stop": "stop",
    "os-start": "start",
    "lock": "lock",
    "unlock": "unlock",
    "confirmResize": "confirmResize",
    "revertResize": "revertResize",
}
# The admin-only actions and Nova's policy rule for each.
ADMIN_RULES = {
    "os-migrateLive": "os_compute_api:os-migrate-server:migrate_live",
    "migrate": "os_compute_api:os-migrate-server:migrate",
    "evacuate": "os_compute_api:os-evacuate",
    "os-resetState": "os_compute_api:os-admin-actions:reset_state",
}
ACTIONS = {
    "os-migrateLive": _live,
    "migrate": _migrate,
    "evacuate": _evacuate,
    "lock": _lock,
    "confirmResize": _simple("confirmResize"),
    "revertResize": _simple("revertResize"),
    "os-stop": _simple("os-stop"),
    "os-start": _simple("os-start"),
    "unlock": _simple("unlock"),
    "os-resetState": _reset_state,
}


@router.post("/servers/{server_id}/action")
async def server_action(request: Request, server_id: str) -> object:
    body = await json_body(request)
    cloud = cloud_of(request)
    with cloud.lock:
        inst = instance_of(request, server_id)
        if len(body) != 1:
            raise bad_request("Malformed request body")
        ((name, args),) = body.items()
        handler = ACTIONS.get(name)
        if handler is None:
            raise bad_request(f"There is no such action: {name}")
        if name in ADMIN_RULES:
            authorize(request, ADMIN_RULES[name])
        response = handler(cloud, inst, args, mv(request))
        if name in LOGGED_AS:
            start_action(cloud, inst, LOGGED_AS[name])
        return response
