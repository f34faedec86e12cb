"""Views of compute services, hypervisors, flavors, server groups, aggregates and zones."""

from __future__ import annotations

from novaflow.sim.microversion import Version
from novaflow.sim.model import Flavor, Host, ServerGroup
from novaflow.sim.reboots import uptime_text
from novaflow.sim.state import SimCloud, Usage
from novaflow.sim.views.common import iso_us, links

CONTROLLER = "sim-controller"
CONTROL_SERVICES = [(1, "nova-scheduler"), (2, "nova-conductor")]


def service(cloud: SimCloud, host: Host, mv: Version) -> dict[str, object]:
    body: dict[str, object] = {
        "id": host.service_uuid if mv >= (2, 53) else host.service_id,
        "binary": "nova-compute",
        "host": host.name,
        "zone": host.zone,
        "status": host.status,
        "state": "up" if host.is_up else "down",
        "updated_at": iso_us(cloud, host.last_heartbeat),
        "disabled_reason": host.disabled_reason,
    }
    if mv >= (2, 11):
        body["forced_down"] = host.forced_down
    return body


def control_services(cloud: SimCloud, mv: Version) -> list[dict[str, object]]:
    out = []
    for sid, binary in CONTROL_SERVICES:
        body: dict[str, object] = {
            "id": f"00000000-0000-4000-8000-00000000000{sid}" if mv >= (2, 53) else sid,
            "binary": binary,
            "host": CONTROLLER,
            "zone": "internal",
            "status": "enabled",
            "state": "up",
            "updated_at": iso_us(cloud, cloud.now),
            "disabled_reason": None,
        }
        if mv >= (2, 11):
            body["forced_down"] = False
        out.append(body)
    return out


def hypervisor(
    cloud: SimCloud, host: Host, usage: Usage, mv: Version, detail: bool, with_servers: bool
) -> dict[str, object]:
    body: dict[str, object] = {
        "id": host.hypervisor_uuid if mv >= (2, 53) else host.hypervisor_id,
        "hypervisor_hostname": host.name,
        "state": "up" if host.is_up else "down",
        "status": host.status,
    }
    if detail:
        body.update(
            {
                "host_ip": host.host_ip,
                "hypervisor_type": "QEMU",
                "hypervisor_version": 8002002,
                "service": {
                    "host": host.name,
                    "id": host.service_uuid if mv >= (2, 53) else host.service_id,
                    "disabled_reason": host.disabled_reason,
                },
            }
        )
        if mv < (2, 88):
            cpu_info: object = {
                "arch": "x86_64",
                "model": "Cascadelake-Server",
                "vendor": "Intel",
                "topology": {"cores": host.vcpus // 2, "threads": 2, "sockets": 1},
                "features": ["vmx", "avx512f"],
            }
            disk_used = usage.disk
            body.update(
                {
                    "cpu_info": cpu_info if mv >= (2, 28) else str(cpu_info),
                    "current_workload": 0,
                    "disk_available_least": host.disk_gb - disk_used,
                    "free_disk_gb": host.disk_gb - disk_used,
                    "free_ram_mb": host.memory_mb - usage.ram - host.reserved_host_memory_mb,
                    "local_gb": host.disk_gb,
                    "local_gb_used": disk_used,
                    "memory_mb": host.memory_mb,
                    "memory_mb_used": usage.ram + host.reserved_host_memory_mb,
                    "running_vms": usage.running_vms,
                    "vcpus": host.vcpus,
                    "vcpus_used": usage.vcpus,
                }
            )
        else:
            body["uptime"] = uptime_text(cloud, host)
    if with_servers:
        servers = [
            {"name": i.instance_name, "uuid": i.id}
            for i in cloud.instances.values()
            if i.host == host.name
        ]
        body["servers"] = servers
    return body


def flavor(f: Flavor, base: str, mv: Version, detail: bool) -> dict[str, object]:
    body: dict[str, object] = {"id": f.id, "name": f.name, "links": links(base, "flavors", f.id)}
    if mv >= (2, 55):
        body["description"] = f.description
    if not detail:
        return body
    body.update(
        {
            "ram": f.ram,
            "vcpus": f.vcpus,
            "disk": f.disk,
            "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
            "swap": f.swap if (f.swap or mv >= (2, 75)) else "",
            "os-flavor-access:is_public": f.is_public,
        }
    )
    if mv < (2, 102):  # 2.102 dropped both
        body["rxtx_factor"] = 1.0
        body["OS-FLV-DISABLED:disabled"] = False
    if mv >= (2, 61):
        body["extra_specs"] = dict(f.extra_specs)
    return body


def server_group(g: ServerGroup, mv: Version) -> dict[str, object]:
    body: dict[str, object] = {"id": g.id, "name": g.name, "members": list(g.members)}
    if mv >= (2, 64):
        body["policy"] = g.policy
        body["rules"] = dict(g.rules)
    else:
        body["policies"] = [g.policy]
        body["metadata"] = {}
    if mv >= (2, 13):
        body["project_id"] = g.project_id
        body["user_id"] = g.user_id
    return body


def aggregates(cloud: SimCloud, mv: Version) -> list[dict[str, object]]:
    out = []
    for a in cloud.aggregates.values():
        body: dict[str, object] = {
            "id": a.id,
            "name": a.name,
            "availability_zone": a.availability_zone,
            "hosts": list(a.hosts),
            "metadata": dict(a.metadata),
            "created_at": iso_us(cloud, a.created),
            "updated_at": None,
            "deleted_at": None,
            "deleted": False,
        }
        if mv >= (2, 41):
            body["uuid"] = a.uuid
        out.append(body)
    return out


def availability_zones(cloud: SimCloud, detail: bool) -> list[dict[str, object]]:
    zones: dict[str, list[Host]] = {}
    for h in sorted(cloud.hosts.values(), key=lambda h: h.name):
        zones.setdefault(h.zone, []).append(h)
    out: list[dict[str, object]] = []
    if detail:
        out.append(
            {
                "zoneName": "internal",
                "zoneState": {"available": True},
                "hosts": {
                    CONTROLLER: {
                        b: {
                            "available": True,
                            "active": True,
                            "updated_at": iso_us(cloud, cloud.now),
                        }
                        for _, b in CONTROL_SERVICES
                    }
                },
            }
        )
    for zone, hosts in sorted(zones.items()):
        available = any(h.is_up for h in hosts)
        entry: dict[str, object] = {
            "zoneName": zone,
            "zoneState": {"available": available},
            "hosts": None,
        }
        if detail:
            entry["hosts"] = {
                h.name: {
                    "nova-compute": {
                        "available": h.is_up,
                        "active": h.status == "enabled",
                        "updated_at": iso_us(cloud, h.last_heartbeat),
                    }
                }
                for h in hosts
            }
        out.append(entry)
    return out
