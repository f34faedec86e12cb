"""The canary: a small instance booted on a host just back from its work, to prove it can
run guests before the scheduler may send it any; it is deleted whatever happens."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from novaflow.campaign_work import ServiceProof, seconds
from novaflow.cloud import Cloud
from novaflow.errors import NovaflowError


def boot_canary(
    cloud: Cloud,
    host: str,
    proof: ServiceProof,
    *,
    timeout_s: float,
    poll_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ServiceProof:
    """`proof` with the canary's result added: ok only if the canary went ACTIVE on `host`."""
    zone = cloud.compute_service(host).zone
    try:
        server_id = cloud.boot_on_host(host, zone, f"novaflow-canary-{host}")
    except NovaflowError as exc:
        return _with(proof, False, f"canary could not be booted on {host}: {exc.what}")
    began = cloud.server_time() or datetime.now(UTC)
    deadline = time.monotonic() + timeout_s
    interval = 0.05
    try:
        while True:
            state = cloud.server_state(server_id)
            now = cloud.server_time() or datetime.now(UTC)
            took = seconds((now - began).total_seconds())
            short = server_id[:8]
            if state is None:
                return _with(proof, False, f"canary {short} on {host} vanished after {took}")
            if state.status == "ACTIVE":
                if state.host != host:
                    return _with(
                        proof, False, f"canary {short} went to {state.host}, not {host}; deleted"
                    )
                return _with(proof, True, f"canary {short} ACTIVE on {host} in {took}, deleted")
            if state.status == "ERROR":
                why = state.fault or "no fault given"
                return _with(proof, False, f"canary {short} on {host} ended ERROR: {why}; deleted")
            if time.monotonic() >= deadline:
                return _with(
                    proof,
                    False,
                    f"canary {short} on {host} not ACTIVE within {seconds(timeout_s)} "
                    f"({state.status}); deleted",
                )
            sleep(interval)
            interval = min(interval * 1.5, poll_s)
    finally:
        cloud.delete_server(server_id)


def _with(proof: ServiceProof, ok: bool, line: str) -> ServiceProof:
    return ServiceProof(
        ok=proof.ok and ok, saw_restart=proof.saw_restart, detail=f"{proof.detail}; {line}"
    )
