"""The sim's own control API under /sim (not in the catalog): faults, stats, hosts, clock."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from novaflow.sim import lifecycle, reboots
from novaflow.sim.api.deps import cloud_of, ok
from novaflow.sim.control_stats import sim_stats as stats
from novaflow.sim.faults import FaultPlan

router = APIRouter(prefix="/sim")


class Skip(BaseModel):
    seconds: float = Field(gt=0)


class Reboot(BaseModel):
    down_seconds: float = Field(60.0, ge=0, description="Sim seconds until the node is back.")
    fault: reboots.RebootFault | None = None


class RebootFault(BaseModel):
    fault: reboots.RebootFault | None = None


@router.get("/stats")
async def get_stats(request: Request) -> object:
    return ok(stats(cloud_of(request)))


@router.post("/stats/reset")
async def reset_stats(request: Request) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        cloud.requests.clear()
        cloud.injected_errors = 0
        cloud.injected_resets = 0
    return ok(stats(cloud))


@router.get("/faults")
async def get_faults(request: Request) -> object:
    return ok(cloud_of(request).faults.plan.model_dump())


@router.post("/faults")
async def set_faults(request: Request, plan: FaultPlan) -> object:
    cloud_of(request).set_faults(plan)
    return ok(plan.model_dump())


@router.post("/hosts/{host}/down")
async def host_down(request: Request, host: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        cloud.advance()
        lifecycle.kill_host(cloud, host)
    return ok({"host": host, "state": "down"})


@router.post("/hosts/{host}/up")
async def host_up(request: Request, host: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        cloud.advance()
        lifecycle.revive_host(cloud, host)
    return ok({"host": host, "state": "up"})


@router.post("/hosts/{host}/reboot")
async def host_reboot(request: Request, host: str, body: Reboot | None = None) -> object:
    """The node reboots: down now, back after `down_seconds` with a new boot time (or not)."""
    body = body or Reboot()
    cloud = cloud_of(request)
    with cloud.lock:
        cloud.advance()
        fault = reboots.reboot_host(cloud, host, body.down_seconds, body.fault)
        return ok(
            {
                "host": host,
                "state": "down",
                "down_seconds": body.down_seconds,
                "fault": fault,
                "reboots": reboots.reboots_of(cloud, host),
                "now": cloud.now,
            }
        )


@router.post("/hosts/{host}/reboot-fault")
async def host_reboot_fault(request: Request, host: str, body: RebootFault) -> object:
    """Make the host's later reboots fail this way (`{"fault": null}` clears it)."""
    cloud = cloud_of(request)
    with cloud.lock:
        reboots.set_reboot_fault(cloud, host, body.fault)
    return ok({"host": host, "fault": body.fault})


@router.post("/tokens/expire")
async def expire_tokens(request: Request) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        cloud.tokens.clear()
    return ok({"expired": True})


@router.post("/clock/skip")
async def skip_clock(request: Request, body: Skip) -> object:
    cloud = cloud_of(request)
    cloud.skip(body.seconds)
    return ok({"now": cloud.now})


@router.get("/summary")
async def summary(request: Request, brief: bool = False) -> object:
    """Hosts with their state and instances: a quick look for demos and debugging. `brief`
    gives each host's instance count instead of their names (cheap enough to poll: the
    campaign benchmark draws its timeline from it)."""
    cloud = cloud_of(request)
    with cloud.lock:
        cloud.advance()
        on: dict[str | None, list[str]] = {}
        for inst in cloud.instances.values():
            on.setdefault(inst.host, []).append(inst.name)
        hosts = {
            h.name: {
                "zone": h.zone,
                "state": "up" if h.is_up else "down",
                "status": h.status,
                "booted_at": cloud.time(h.booted_at).isoformat(),
                "heartbeat": cloud.time(h.last_heartbeat).isoformat(),
                "instances": len(on.get(h.name, [])) if brief else sorted(on.get(h.name, [])),
            }
            for h in sorted(cloud.hosts.values(), key=lambda h: h.name)
        }
        return ok({"now": cloud.now, "hosts": hosts})
