"""Proving a host is back in service after its work, before it is enabled again.

A minimal version written by the campaign engine to the interface it shares with the
`workstep` part (which replaces this module at merge): it waits for the compute service
to report up, in this machine's clock.
"""

from __future__ import annotations

import time
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from novaflow.campaign_work import ServiceProof
from tasks.connect import cloud_for

POLL_S = 0.5


@task(name="prove-back-in-service", cache_policy=NO_CACHE)
def prove_back_in_service(
    cloud_name: str,
    host: str,
    *,
    work_started_at: datetime,
    work_ended_at: datetime,
    timeout_s: float,
    canary: bool = False,
) -> ServiceProof:
    """Ok once the compute service of `host` reports up (within `timeout_s`)."""
    cloud = cloud_for(cloud_name)
    deadline = time.monotonic() + timeout_s
    state = "unknown"
    while True:
        services = cloud._services(host)
        state = services[0].state if services else "missing"
        if state == "up":
            return ServiceProof(ok=True, detail=f"nova-compute on {host} reported up")
        if time.monotonic() >= deadline:
            return ServiceProof(
                ok=False,
                detail=f"did not come back within {timeout_s:g} s: service {state}",
            )
        time.sleep(POLL_S)
