"""The canary: a small instance run on a host just back from its work, to prove it can run
guests before the scheduler may send it any; it is deleted whatever happens.

Nova takes no new instance on a disabled host, even one an admin names: since Train a
mandatory scheduler pre-filter forbids Placement's COMPUTE_STATUS_DISABLED trait, and a
forced `zone:host` boot or a 2.74 `host` request still asks Placement for candidates within
that host. A forced live migration (API 2.30-2.67 `force`) does not: Nova checks the host is
up and copies the instance's allocation onto it, without the scheduler. So the canary boots
where the scheduler puts it in the host's zone, moves onto the host that way and must be
ACTIVE there. The host stays disabled throughout: no tenant's instance can land on it before
the canary has run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from novaflow.campaign_work import ServiceProof, seconds
from novaflow.cloud import Cloud, ServerState
from novaflow.errors import NovaflowError

_SETTLED = ("ACTIVE", "ERROR")


class _Failed(Exception):
    """The canary failed: the line to report."""


def boot_canary(
    cloud: Cloud,
    host: str,
    proof: ServiceProof,
    *,
    timeout_s: float,
    poll_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ServiceProof:
    """`proof` with the canary's result added: ok only if the canary ran ACTIVE on `host`."""
    zone = cloud.compute_service(host).zone
    try:
        server_id = cloud.boot_canary(f"novaflow-canary-{host}", zone)
    except NovaflowError as exc:
        return _with(proof, False, f"canary could not be booted in {zone}: {exc.what}")
    short = server_id[:8]
    began = cloud.server_time() or datetime.now(UTC)
    deadline = time.monotonic() + timeout_s
    wait = _Waiter(cloud, server_id, deadline, poll_s, sleep)
    try:
        booted = wait.until(lambda s: s.status in _SETTLED and s.task_state is None, "booted")
        if booted.status == "ERROR":
            raise _Failed(f"did not boot: {booted.fault or 'no fault given'}")
        if booted.host != host:
            cloud.force_live_migrate(server_id, host)
            moved = wait.until(lambda s: s.task_state is None and s.status in _SETTLED, "moved")
            if moved.host != host or moved.status != "ACTIVE":
                why = cloud.nova_reason(server_id)
                raise _Failed(
                    f"booted on {booted.host}, could not be moved onto {host} "
                    f"({moved.status} on {moved.host}" + (f": {why.message}" if why else "") + ")"
                )
        took = seconds(((cloud.server_time() or datetime.now(UTC)) - began).total_seconds())
        return _with(proof, True, f"canary {short} ACTIVE on {host} in {took}, deleted")
    except _Failed as failed:
        return _with(proof, False, f"canary {short} for {host} {failed}; deleted")
    except NovaflowError as exc:
        return _with(proof, False, f"canary {short} for {host} failed: {exc.what}; deleted")
    finally:
        cloud.delete_server(server_id)


class _Waiter:
    """Polls the canary, faster at first, until a state is reached or the time is up."""

    def __init__(
        self,
        cloud: Cloud,
        server_id: str,
        deadline: float,
        poll_s: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.cloud, self.server_id, self.deadline = cloud, server_id, deadline
        self.poll_s, self.sleep = poll_s, sleep

    def until(self, reached: Callable[[ServerState], bool], what: str) -> ServerState:
        interval = 0.05
        while True:
            state = self.cloud.server_state(self.server_id)
            if state is None:
                raise _Failed(f"vanished before it {what}")
            if reached(state):
                return state
            if time.monotonic() >= self.deadline:
                raise _Failed(f"not {what} in time ({state.status} on {state.host})")
            self.sleep(interval)
            interval = min(interval * 1.5, self.poll_s)


def _with(proof: ServiceProof, ok: bool, line: str) -> ServiceProof:
    return ServiceProof(
        ok=proof.ok and ok, saw_restart=proof.saw_restart, detail=f"{proof.detail}; {line}"
    )
