"""Is a drained host empty? One server list filtered by host, not a snapshot of the cloud:
a campaign asks this once per host, and a snapshot of a big cloud is costly to read."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from novaflow.models import Instance
from tasks.connect import cloud_for


@task(name="instances-left", task_run_name="instances-left-{host}", cache_policy=NO_CACHE)
def instances_left(cloud: str, host: str) -> list[Instance]:
    """The instances still on `host` (each logged: the operator sees who stayed)."""
    left = cloud_for(cloud).instances_on(host)
    for inst in left:
        get_run_logger().warning("%s is still on %s (%s)", inst.label, host, inst.status)
    return left
