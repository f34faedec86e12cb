"""Proof that a host is back in service after its work, read from its nova-compute service.

The proof is two heartbeats newer than the end of the work, with the service up at both:
one fresh `updated_at` can be the single touch of a nova-compute that crashes on start, or
(on a real cloud) the last report of a service still shutting down for a reboot; a second,
newer one means the service is running its report loop. Every time is the cloud's: the
heartbeats are in the cloud's clock, so the work's start and end (this machine's clock) are
moved into it by the difference between the two clocks seen at the first read. On a sim
running faster than real time that moves them later than they were, which only makes the
proof stricter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from novaflow.campaign_work import ServiceProof, seconds
from novaflow.cloud import Cloud, ComputeService


@dataclass(frozen=True)
class Polling:
    """How often the service is read: quickly at first, then every `max_s` seconds of the
    cloud's clock (a sim running 100x faster is read 100x more often in real time, so the
    check does not overshoot the node's return by minutes of simulated time)."""

    first_s: float = 0.05
    max_s: float = 5.0
    growth: float = 1.5


def hhmmss(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%H:%M:%S") if t else "never"


def prove_back(
    cloud: Cloud,
    host: str,
    *,
    work_started_at: datetime,
    work_ended_at: datetime,
    timeout_s: float,
    polling: Polling = Polling(),
    sleep: Callable[[float], None] = time.sleep,
) -> ServiceProof:
    """Poll `host`'s compute service until it is proven back, or `timeout_s` (cloud time,
    and at most as long in real time) has passed; say what was seen either way."""
    svc = cloud.compute_service(host)
    # The Date header has whole seconds: the cloud's clock may be up to one second later.
    offset = svc.read_at + timedelta(seconds=1) - datetime.now(UTC)
    started, ended = work_started_at + offset, work_ended_at + offset
    deadline = svc.read_at + timedelta(seconds=timeout_s)
    real_deadline = time.monotonic() + timeout_s
    went_down: datetime | None = None  # its last heartbeat when first seen down
    fresh: datetime | None = None  # first heartbeat after the work, while up
    reported_after: datetime | None = None  # any heartbeat after the work, up or not
    interval = polling.first_s
    first_read, first_real = svc.read_at, time.monotonic()
    while True:
        beat = svc.updated_at
        if beat and beat > ended:
            reported_after = reported_after or beat
        if not svc.up:
            went_down = went_down or beat or svc.read_at
            fresh = None
        elif beat and beat > ended:
            if fresh is None:
                fresh = beat
            elif beat > fresh:
                return _proven(cloud, host, fresh, ended, started, went_down)
        if svc.read_at >= deadline or time.monotonic() >= real_deadline:
            return _not_back(svc, timeout_s, ended, reported_after, went_down)
        sleep(interval / _rate(svc.read_at - first_read, time.monotonic() - first_real))
        interval = min(interval * polling.growth, polling.max_s)
        svc = cloud.compute_service(host)


def _rate(cloud_span: timedelta, real_span: float) -> float:
    """Cloud seconds per real second, once the span is long enough for the Date header's
    whole seconds to tell (1 until then, and never below 1)."""
    if cloud_span.total_seconds() < 10 or real_span <= 0:
        return 1.0
    return max(1.0, cloud_span.total_seconds() / real_span)


def _proven(
    cloud: Cloud,
    host: str,
    fresh: datetime,
    ended: datetime,
    started: datetime,
    went_down: datetime | None,
) -> ServiceProof:
    after = seconds(max(0.0, (fresh - ended).total_seconds()))
    detail = f"nova-compute on {host} reported up at {hhmmss(fresh)}, {after} after the work ended"
    if went_down is not None:
        return ServiceProof(
            ok=True,
            saw_restart=True,
            detail=f"{detail}; went down at {hhmmss(went_down)} during the work",
        )
    uptime = cloud.hypervisor_uptime(host)
    # uptime is whole minutes: the node booted at most a minute before now - uptime.
    booted_by = fresh - uptime - timedelta(minutes=1) if uptime is not None else None
    if booted_by is not None and booted_by >= started:
        return ServiceProof(
            ok=True,
            saw_restart=True,
            detail=f"{detail}; the node booted during the work (up {_span(uptime)})",
        )
    seen = f"; the node has been up {_span(uptime)}" if uptime is not None else ""
    return ServiceProof(ok=True, saw_restart=False, detail=f"{detail}; no restart seen{seen}")


def _not_back(
    svc: ComputeService,
    timeout_s: float,
    ended: datetime,
    reported_after: datetime | None,
    went_down: datetime | None,
) -> ServiceProof:
    within = f"within {seconds(timeout_s)}"
    if reported_after is not None:
        now = "down" if not svc.up else "not reporting steadily"
        return ServiceProof(
            ok=False,
            saw_restart=went_down is not None,
            detail=(
                f"came back but its compute service is failing: nova-compute on {svc.host} "
                f"reported at {hhmmss(reported_after)} after the work and is {now} "
                f"(state {svc.state}, last heartbeat {hhmmss(svc.updated_at)}) {within}"
            ),
        )
    if not svc.up:
        return ServiceProof(
            ok=False,
            saw_restart=False,
            detail=(
                f"did not come back {within}: nova-compute on {svc.host} down since "
                f"{hhmmss(svc.updated_at)} (its last heartbeat)"
            ),
        )
    return ServiceProof(
        ok=False,
        saw_restart=False,
        detail=(
            f"nova-compute on {svc.host} reports up but sent no heartbeat after the work "
            f"ended at {hhmmss(ended)} {within} (last heartbeat {hhmmss(svc.updated_at)})"
        ),
    )


def _span(uptime: timedelta | None) -> str:
    if uptime is None:
        return "unknown"
    minutes = int(uptime.total_seconds() // 60)
    days, minutes = divmod(minutes, 1440)
    text = f"{minutes // 60}:{minutes % 60:02d}" if minutes >= 60 else f"{minutes} min"
    return f"{days} d {text}" if days else text
