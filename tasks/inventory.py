"""Tasks that read the cloud and plan: snapshot, plan, pre-flight checks."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import INPUTS, NO_CACHE, RUN_ID

from novaflow import planner
from novaflow.cloud.rereads import Rereads
from novaflow.errors import REFUSALS
from novaflow.models import Plan, PlanRequest, Snapshot
from novaflow.telemetry import LoadSettings, measure
from tasks.connect import cloud_for

# The pre-flight snapshot and the plan are cached per flow run: a retried run (the UI's
# Retry) resumes with the plan that was approved instead of planning again.
_PER_RUN = INPUTS + RUN_ID


def worth_retrying(_task, _task_run, state) -> bool:
    """Retry what may pass next time; a refusal (unknown cloud, wrong credentials, too old an
    API) fails the same way again, and repeated bad logins can lock the account."""
    return not isinstance(state.data, REFUSALS)


@task(
    name="snapshot",
    retries=2,
    retry_delay_seconds=3,
    retry_condition_fn=worth_retrying,
    cache_policy=_PER_RUN,
    persist_result=True,
)
def take_snapshot(cloud: str, live_migration_slots: int, purpose: str = "plan") -> Snapshot:
    """Read the whole cloud with a constant number of list calls."""
    return cloud_for(cloud).snapshot(live_migration_slots=live_migration_slots)


@task(
    name="fresh-snapshot",
    retries=2,
    retry_delay_seconds=3,
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
)
def read_cloud(cloud: str, live_migration_slots: int) -> Snapshot:
    """A snapshot that is never cached: for verifying what the moves did."""
    return cloud_for(cloud).snapshot(live_migration_slots=live_migration_slots)


@task(
    name="reread-cloud",
    retries=2,
    retry_delay_seconds=3,
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
)
def reread_cloud(cloud: str, live_migration_slots: int, again: Rereads) -> Snapshot:
    """The cloud read again at the cost of what changed since `again`'s last read (a full
    read now and then): a campaign re-reads it after every change to plan on it."""
    return cloud_for(cloud).snapshot(live_migration_slots=live_migration_slots, again=again)


@task(name="measure-load", cache_policy=_PER_RUN, persist_result=True)
def measure_load(snapshot: Snapshot, load: LoadSettings) -> Snapshot:
    """The snapshot with CPU load measured by Prometheus, or a note why it is allocation.

    Cached per run like the snapshot: a retried run plans on the load that was approved.
    """
    return measure(snapshot, load)


@task(name="plan", cache_policy=_PER_RUN, persist_result=True)
def make_plan(snapshot: Snapshot, request: PlanRequest) -> Plan:
    """The pure planner: which instance goes where, how, and why."""
    return planner.plan(snapshot, request)
