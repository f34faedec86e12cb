"""One run at a time per host: a host claim kept in a Prefect Variable.

Creating a Prefect Variable fails when the name exists, which makes the claim atomic. The
value names the run holding the host, so a refused run can say who holds it. A claim left
by a run that crashed or finished is stale and taken over; a retry of the same run keeps
its own claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from uuid import UUID

from prefect import get_client, get_run_logger
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import VariableCreate
from prefect.client.schemas.filters import VariableFilter, VariableFilterName
from prefect.client.schemas.objects import Variable
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from novaflow.errors import BadRequest
from tasks.prefect_api import retried


class HostBusy(BadRequest):
    """Another active run is already working on the host."""

    @classmethod
    def held_by(cls, host: str, holder: dict, state: str = "") -> HostBusy:
        return cls(
            f"{host}{state} is already being worked on by flow run "
            f"'{holder.get('flow_run_name', '?')}' ({holder.get('flow_run_id', '?')}, "
            f"flow {holder.get('flow', '?')})",
            "wait for that run to finish (or answer its gate), or cancel it in the Prefect "
            "UI, then run again",
        )


# A claim read or write that fails on a passing server fault is asked again, so that a busy
# server neither fails a run before it starts nor makes a live holder's claim look stale.
_patient = retried(within_s=300)


def claim_name(host: str) -> str:
    return "novaflow-host-claim-" + re.sub(r"[^a-z0-9_-]+", "-", host.lower())


def _me() -> dict[str, str]:
    ctx = FlowRunContext.get()
    if not ctx or not ctx.flow_run:
        return {"flow_run_id": "local", "flow_run_name": "local", "flow": "local"}
    return {
        "flow_run_id": str(ctx.flow_run.id),
        "flow_run_name": ctx.flow_run.name,
        "flow": ctx.flow.name if ctx.flow else "",
    }


@_patient
def _is_active(client: SyncPrefectClient, flow_run_id: str) -> bool:
    """True while the holding run can still act (running, paused, scheduled, pending)."""
    try:
        run = client.read_flow_run(UUID(flow_run_id))
    except (ObjectNotFound, ValueError):  # the run is gone, or the record is not a run id
        return False
    return bool(run.state) and not run.state.is_final()


def _holder(client: SyncPrefectClient, name: str) -> dict:
    held = client.read_variable_by_name(name)
    return (held.value if held is not None else None) or {}


@_patient
def _try_claim(client: SyncPrefectClient, host: str, me: dict[str, str]) -> dict | None:
    """Claim `host`; return None on success, else the holder's record. Creating a Variable
    fails when the name exists, which is what makes the claim atomic."""
    name = claim_name(host)
    for _ in range(2):
        try:
            client.create_variable(VariableCreate(name=name, value=me))
            return None
        except ObjectAlreadyExists:
            holder = _holder(client, name)
            if holder.get("flow_run_id") == me["flow_run_id"]:
                return None
            if holder and _is_active(client, holder["flow_run_id"]):
                return holder
            client.delete_variable_by_name(name)  # stale: its run ended or crashed
    return _holder(client, name)


def active_holder(host: str) -> dict | None:
    """The run holding `host`'s claim, if that run can still act; None otherwise."""
    with get_client(sync_client=True) as client:
        holder = _holder(client, claim_name(host))
        if holder and _is_active(client, str(holder.get("flow_run_id", ""))):
            return holder
    return None


CLAIMS_AT_ONCE = 8
"""Claims taken or given back at once. A run can hold hundreds of hosts, and the server is
busiest right after the moves (recording them) and right after the plan (its log lines and
artifact): one at a time, each answer that asks the client to come back later (SQLite busy)
would add its seconds of back-off to the run's start or end."""


PAGE = 200
"""Claims read per request when giving them back (the Prefect server's default page size)."""


@_patient
def _still_mine(client: SyncPrefectClient, hosts: list[str], me: dict[str, str]) -> list[str]:
    """The claim names among `hosts` that still name this run, read a page at a time rather
    than one read per host."""
    mine: list[str] = []
    names = [claim_name(host) for host in hosts]
    for at in range(0, len(names), PAGE):
        wanted = VariableFilter(name=VariableFilterName(any_=names[at : at + PAGE]))
        answer = client.request(
            "POST",
            "/variables/filter",
            json={"variables": wanted.model_dump(mode="json"), "limit": PAGE},
        )
        for held in Variable.model_validate_list(answer.json()):
            if isinstance(held.value, dict) and held.value.get("flow_run_id") == me["flow_run_id"]:
                mine.append(held.name)
    return mine


@_patient
def _delete(client: SyncPrefectClient, name: str) -> None:
    with suppress(ObjectNotFound):  # already gone: nothing to give back
        client.delete_variable_by_name(name)


def _release(hosts: list[str], me: dict[str, str]) -> None:
    """Give back this run's claims (only those it still holds), several at once."""
    with get_client(sync_client=True) as client:
        mine = _still_mine(client, hosts, me)
        with ThreadPoolExecutor(CLAIMS_AT_ONCE) as pool:
            list(pool.map(lambda name: _delete(client, name), mine))


@contextmanager
def hosts_claimed(hosts: list[str]) -> Iterator[None]:
    """Hold every host in `hosts` for this run, or refuse naming the run that holds one."""
    me = _me()
    taken: list[str] = []
    tries: dict[str, Future[dict | None]] = {}
    try:
        with get_client(sync_client=True) as client, ThreadPoolExecutor(CLAIMS_AT_ONCE) as pool:
            tries = {host: pool.submit(_try_claim, client, host, me) for host in hosts}
        # Every attempt is over: what was claimed is known (and given back below) before a
        # refusal or a failed attempt ends the run.
        taken = [h for h, t in tries.items() if t.exception() is None and t.result() is None]
        for host, attempt in tries.items():
            holder = attempt.result()
            if holder is not None:
                raise HostBusy.held_by(host, holder)
        get_run_logger().info("Holding %s for this run", ", ".join(hosts))
        yield
    finally:
        _release(taken, me)
        if taken:
            get_run_logger().info("Released %s", ", ".join(taken))
