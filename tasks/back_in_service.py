"""The campaign's return-to-service check: a host is enabled only once it is proven back."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from novaflow.campaign_work import ServiceProof
from novaflow.service_proof import prove_back
from tasks.connect import cloud_for


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
    """Wait until `host`'s compute service is up with heartbeats newer than the work's end
    (and, with `canary`, a small instance booted there went ACTIVE and was deleted)."""
    logger = get_run_logger()
    cloud = cloud_for(cloud_name)
    proof = prove_back(
        cloud,
        host,
        work_started_at=work_started_at,
        work_ended_at=work_ended_at,
        timeout_s=timeout_s,
    )
    if proof.ok and canary:
        from novaflow.canary import boot_canary

        proof = boot_canary(cloud, host, proof, timeout_s=timeout_s)
    (logger.info if proof.ok else logger.error)("%s: %s", host, proof.detail)
    return proof
