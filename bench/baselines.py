"""What operators run today, written with openstacksdk: fire-all, one-at-a-time, evacuate-all.

* `fire_all_live`: novaclient's `host-evacuate-live` — request a live migration of every
  server on the host at once (Nova queues them behind its slots); what Nova refuses (SHUTOFF,
  vTPM, PCI) is left behind with Nova's answer; then wait on each requested one in turn.
* `one_at_a_time`: the per-server script — for each server, migrate it and wait on it with
  `conn.compute.wait_for_server` before the next (like `openstack server migrate --wait`):
  live for ACTIVE servers, cold (migrate, wait for VERIFY_RESIZE, confirm, wait) for SHUTOFF
  ones and for those Nova refuses to live-migrate.
* `evacuate_all`: `nova host-evacuate` — evacuate every server of a failed host at once, then
  watch them all (one GET per server per poll) and start each one that was running the moment
  its rebuild is over (from microversion 2.95 Nova leaves evacuated instances stopped).

Waits poll one server per request every `poll_s` real seconds; the benchmarks pass
openstacksdk's default of 2 s scaled to the sim's clock, so the time scale does not slow a
baseline down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from openstack import exceptions

WAIT_S = 3600


@dataclass
class Run:
    """What a baseline did: servers it moved, and those it left behind with the reason."""

    moved: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)


def servers_on(conn: Any, host: str) -> list[Any]:
    return list(conn.compute.servers(details=True, all_projects=True, compute_host=host))


def _refusal(exc: exceptions.HttpException) -> str:
    return f"{exc.status_code}: {exc.details or exc.message}"


def _wait(conn: Any, server: Any, status: str, poll_s: float) -> Any:
    """Poll the server (GET, then every `poll_s`) until it reaches `status`."""
    fresh = conn.compute.get_server(server.id)
    return conn.compute.wait_for_server(
        fresh, status=status, failures=["ERROR"], interval=poll_s, wait=WAIT_S
    )


def fire_all_live(conn: Any, host: str, poll_s: float) -> Run:
    run = Run()
    requested = []
    for server in servers_on(conn, host):
        try:
            conn.compute.live_migrate_server(server, host=None, block_migration="auto")
            requested.append(server)
        except exceptions.HttpException as exc:
            run.left[server.name] = _refusal(exc)
    for server in requested:
        done = _wait(conn, server, "ACTIVE", poll_s)
        if done.compute_host != host:
            run.moved.append(server.name)
        else:
            run.left[server.name] = "live migration failed; still on the host"
    return run


def _cold(conn: Any, server: Any, host: str, poll_s: float) -> str | None:
    prior = server.status
    conn.compute.migrate_server(server)
    _wait(conn, server, "VERIFY_RESIZE", poll_s)
    conn.compute.confirm_server_resize(server)
    done = _wait(conn, server, prior, poll_s)
    return None if done.compute_host != host else "cold migration stayed on the host"


def one_at_a_time(conn: Any, host: str, poll_s: float) -> Run:
    run = Run()
    for server in servers_on(conn, host):
        try:
            if server.status == "ACTIVE":
                try:
                    conn.compute.live_migrate_server(server, host=None, block_migration="auto")
                    done = _wait(conn, server, "ACTIVE", poll_s)
                    why = None if done.compute_host != host else "live migration failed"
                except exceptions.HttpException:  # Nova refuses live (vTPM, PCI): go cold
                    why = _cold(conn, server, host, poll_s)
            else:
                why = _cold(conn, server, host, poll_s)
        except (exceptions.HttpException, exceptions.ResourceFailure) as exc:
            why = str(exc)
        if why is None:
            run.moved.append(server.name)
        else:
            run.left[server.name] = why
    return run


def _busy(server: Any) -> bool:
    return server.status in ("REBUILD", "MIGRATING", "RESIZE") or server.task_state is not None


def evacuate_all(conn: Any, host: str, poll_s: float) -> Run:
    """Evacuate everything at once; then, every `poll_s`, GET each server still on its way and
    start a formerly running one as soon as its rebuild left it SHUTOFF (not one at a time
    in request order: that serial start was what this baseline used to measure)."""
    run = Run()
    waiting: dict[str, Any] = {}  # id -> the server as it was before the evacuation
    for server in servers_on(conn, host):
        try:
            conn.compute.evacuate_server(server)
            waiting[server.id] = server
        except exceptions.HttpException as exc:
            run.left[server.name] = _refusal(exc)
    started: set[str] = set()
    deadline = time.monotonic() + WAIT_S
    while waiting:
        for sid, before in list(waiting.items()):
            try:
                fresh = conn.compute.get_server(sid)
                if _busy(fresh):
                    continue
                if fresh.status == "SHUTOFF" and before.status == "ACTIVE" and sid not in started:
                    conn.compute.start_server(fresh)
                    started.add(sid)
                    continue
            except exceptions.HttpException as exc:
                run.left[before.name] = str(exc)
                del waiting[sid]
                continue
            if fresh.status == "SHUTOFF" and before.status == "ACTIVE":
                continue  # started above; not up yet
            del waiting[sid]
            if fresh.compute_host != host and fresh.status == before.status:
                run.moved.append(before.name)
            else:
                run.left[before.name] = f"{fresh.status} on {fresh.compute_host}"
        if waiting:
            if time.monotonic() > deadline:
                for before in waiting.values():
                    run.left[before.name] = f"still not back after {WAIT_S} s"
                break
            time.sleep(poll_s)
    return run
