"""Pre-flight checks: refuse bad input with a clear message before anything moves."""

from __future__ import annotations

import difflib

from novaflow.cloud import MV_COLD_HOST
from novaflow.errors import BadRequest, UnsupportedByCloud
from novaflow.models import Host, Method, Plan, Snapshot
from tasks.locks import HostBusy, active_holder

NOVAFLOW_REASON = "novaflow:"
"""Prefix of the disabled reason novaflow sets, so a resumed run knows the host is its own."""


def find_host(snapshot: Snapshot, name: str) -> Host:
    """The host called `name`, or an error that suggests the closest names."""
    try:
        return snapshot.host(name)
    except KeyError:
        names = [h.name for h in snapshot.hosts]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}?" if close else "check the name"
        raise BadRequest(
            f"unknown host '{name}': no compute service of that name in cloud '{snapshot.cloud}'",
            f"{hint} (`openstack compute service list --service nova-compute`)",
        ) from None


def check_unique(hosts: list[str]) -> None:
    twice = sorted({h for h in hosts if hosts.count(h) > 1})
    if twice:
        raise BadRequest(f"host given more than once: {', '.join(twice)}", "name each host once")
    if not hosts:
        raise BadRequest("no host given", "name at least one compute host")


def check_drainable(snapshot: Snapshot, hosts: list[str]) -> None:
    """Maintenance needs each host up (live and cold migration need the source running)
    and not already taken out of service by someone else."""
    check_unique(hosts)
    for name in hosts:
        host = find_host(snapshot, name)
        if not host.is_up:
            state = "forced down" if host.forced_down else "down"
            holder = active_holder(name)
            if holder is not None:  # e.g. its evacuation, waiting at its gate
                raise HostBusy.held_by(name, holder, f" ({state})")
            raise BadRequest(
                f"{name}'s compute service is {state}: instances cannot be migrated off a "
                "node that is down",
                f"if the node has failed, evacuate it instead: novaflow run evacuate --host {name}",
            )
        reason = host.disabled_reason or ""
        if host.status == "disabled" and not reason.startswith(NOVAFLOW_REASON):
            raise BadRequest(
                f"{name} is already disabled (reason: {reason or 'none given'}); someone "
                "else may be working on it",
                f"check with its owner, then enable it (`openstack compute service set "
                f"--enable {name} nova-compute`) and run again",
            )


def check_evacuable(snapshot: Snapshot, host_name: str, approval_mode: str = "ui") -> Host:
    """Evacuation needs a host that holds instances; an up host needs fencing at the gate.

    An empty host is refused (nothing to rebuild; the watcher skips such hosts too). With
    approval mode 'none' nobody can confirm fencing, so only a host Nova already reports
    down may be evacuated that way.
    """
    host = find_host(snapshot, host_name)
    if not snapshot.instances_on(host_name):
        raise BadRequest(
            f"{host_name} holds no instance: there is nothing to evacuate",
            "check the host name, or whether its instances were already evacuated",
        )
    if host.is_up and approval_mode == "none":
        raise BadRequest(
            f"{host_name}'s compute service is UP and approval mode is 'none', so nobody "
            "confirms the node is fenced; evacuating a node that still runs its instances "
            "corrupts them",
            "fence (power off) the node and run with approval mode ui or slack to confirm it, "
            "or drain it instead if it still works: novaflow run failing --host " + host_name,
        )
    return host


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def check_supported(snapshot: Snapshot, plan: Plan) -> None:
    """Refuse a plan whose moves need a newer compute API than the cloud offers, before any
    service is disabled (else every such move would fail one by one mid-run)."""
    have = _version(snapshot.features.max_microversion)
    if have >= MV_COLD_HOST:
        return
    named_cold = [m for m in plan.moves if m.target and Method.COLD in (m.method, m.fallback)]
    if named_cold:
        need = f"{MV_COLD_HOST[0]}.{MV_COLD_HOST[1]}"
        names = ", ".join(m.instance_name for m in named_cold[:5])
        more = f" and {len(named_cold) - 5} more" if len(named_cold) > 5 else ""
        raise UnsupportedByCloud(
            f"cloud '{snapshot.cloud}' supports compute API up to "
            f"{snapshot.features.max_microversion}, but cold migration to a named host needs "
            f"{need}; the plan cold-migrates (or falls back to cold for) {names}{more}",
            "let Nova's scheduler choose destinations (--scheduler / let_scheduler_choose), "
            "or use method 'live' only, or upgrade Nova to 2.56+",
        )
