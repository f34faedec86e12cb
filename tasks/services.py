"""Tasks that change a compute service: disable, enable, force down."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.connect import cloud_for


@task(name="disable-compute-service", retries=3, retry_delay_seconds=2, cache_policy=NO_CACHE)
def disable_service(cloud: str, host: str, reason: str) -> None:
    """Stop the scheduler placing new instances on `host` (with the reason operators see)."""
    cloud_for(cloud).disable_service(host, reason)
    get_run_logger().info("Compute service on %s disabled: %s", host, reason)


@task(name="enable-compute-service", retries=3, retry_delay_seconds=2, cache_policy=NO_CACHE)
def enable_service(cloud: str, host: str) -> None:
    cloud_for(cloud).enable_service(host)
    get_run_logger().info("Compute service on %s enabled again", host)


@task(name="force-down-compute-service", retries=3, retry_delay_seconds=2, cache_policy=NO_CACHE)
def force_down(cloud: str, host: str) -> None:
    """Tell Nova the node is really down, which it requires before an evacuation."""
    cloud_for(cloud).force_down(host, True)
    get_run_logger().info("Compute service on %s forced down", host)
