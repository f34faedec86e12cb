"""Pre-flight checks: refuse bad input with a clear message before anything moves."""

from __future__ import annotations

import difflib

from novaflow.errors import BadRequest
from novaflow.models import Host, Snapshot

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


def check_evacuable(snapshot: Snapshot, host_name: str) -> Host:
    """Evacuation needs a host that holds instances; an up host needs fencing at the gate."""
    host = find_host(snapshot, host_name)
    if not snapshot.instances_on(host_name):
        raise BadRequest(
            f"{host_name} holds no instance: there is nothing to evacuate",
            "check the host name, or whether its instances were already evacuated",
        )
    return host
