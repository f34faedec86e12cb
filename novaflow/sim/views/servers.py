"""The server (instance) view, with the fields each microversion adds or changes."""

from __future__ import annotations

from novaflow.sim.microversion import Version
from novaflow.sim.model import Flavor, Instance
from novaflow.sim.state import SimCloud
from novaflow.sim.views.common import iso_us, iso_z, links


def flavor_embed(flavor: Flavor, base: str, mv: Version) -> dict[str, object]:
    if mv >= (2, 47):
        return {
            "vcpus": flavor.vcpus,
            "ram": flavor.ram,
            "disk": flavor.disk,
            "ephemeral": flavor.ephemeral,
            "swap": flavor.swap,
            "original_name": flavor.name,
            "extra_specs": dict(flavor.extra_specs),
        }
    return {"id": flavor.id, "links": links(base, "flavors", flavor.id)[1:]}


def host_status(cloud: SimCloud, inst: Instance) -> str:
    host = cloud.hosts.get(inst.host or "")
    if host is None:
        return ""
    if not host.is_up:
        return "DOWN"
    return "MAINTENANCE" if host.status == "disabled" else "UP"


def server_brief(inst: Instance, base: str) -> dict[str, object]:
    return {"id": inst.id, "name": inst.name, "links": links(base, "servers", inst.id)}


def group_ids(cloud: SimCloud, inst: Instance) -> list[str]:
    """The server group the instance belongs to (Nova allows at most one), as a list."""
    return [g.id for g in cloud.groups.values() if inst.id in g.members][:1]


def server_detail(
    cloud: SimCloud, inst: Instance, base: str, mv: Version, one: bool = False
) -> dict[str, object]:
    """GET /servers/detail (one element) or, with `one`, GET/PUT /servers/{id}, as an admin.

    Nova returns `server_groups` (2.71) only for one server, never in a list: it costs a
    lookup per server.
    """
    image: dict[str, object] | str = ""
    if inst.image_id:
        image = {"id": inst.image_id, "links": links(base, "images", inst.image_id)[1:]}
        if mv >= (2, 98):
            image["properties"] = {}
    volumes: list[dict[str, object]] = [{"id": v} for v in inst.volumes]
    if mv >= (2, 3):
        for v in volumes:
            v["delete_on_termination"] = False
    host = cloud.hosts.get(inst.host or "")
    body: dict[str, object] = {
        "id": inst.id,
        "name": inst.name,
        "status": inst.status,
        "tenant_id": inst.project_id,
        "user_id": inst.user_id,
        "metadata": dict(inst.metadata),
        "hostId": cloud.host_id(inst),
        "image": image,
        "flavor": flavor_embed(inst.flavor, base, mv),
        "created": iso_z(cloud, inst.created),
        "updated": iso_z(cloud, inst.updated),
        "addresses": inst.addresses,
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links(base, "servers", inst.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": inst.zone or "",
        "config_drive": inst.config_drive,
        "key_name": inst.key_name,
        "OS-SRV-USG:launched_at": iso_us(cloud, inst.launched_at),
        "OS-SRV-USG:terminated_at": iso_us(cloud, inst.deleted_at),
        "OS-EXT-SRV-ATTR:host": inst.host,
        "OS-EXT-SRV-ATTR:instance_name": inst.instance_name,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": host.name if host else None,
        "OS-EXT-STS:task_state": inst.task_state,
        "OS-EXT-STS:vm_state": inst.vm_state,
        "OS-EXT-STS:power_state": inst.power_state,
        "os-extended-volumes:volumes_attached": volumes,
        "security_groups": [{"name": "default"}],
    }
    if mv >= (2, 3):
        body.update(
            {
                "OS-EXT-SRV-ATTR:reservation_id": f"r-{inst.id[:8]}",
                "OS-EXT-SRV-ATTR:launch_index": 0,
                "OS-EXT-SRV-ATTR:kernel_id": "",
                "OS-EXT-SRV-ATTR:ramdisk_id": "",
                "OS-EXT-SRV-ATTR:hostname": inst.name.lower().replace("_", "-"),
                "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                "OS-EXT-SRV-ATTR:user_data": None,
            }
        )
    if mv >= (2, 9):
        body["locked"] = inst.locked
    if mv >= (2, 16):
        body["host_status"] = host_status(cloud, inst)
    if mv >= (2, 19):
        body["description"] = inst.description
    if mv >= (2, 26):
        body["tags"] = []
    if mv >= (2, 63):
        body["trusted_image_certificates"] = None
    if mv >= (2, 73):
        body["locked_reason"] = inst.locked_reason
    if mv >= (2, 71) and one:
        body["server_groups"] = group_ids(cloud, inst)
    if mv >= (2, 96):
        body["pinned_availability_zone"] = inst.pinned_az
    if mv >= (2, 100):
        # Nova keeps the hints given at boot; the sim's only hint is the group's.
        groups = group_ids(cloud, inst)
        body["scheduler_hints"] = {"group": groups[0]} if groups else {}
    if inst.fault and inst.vm_state == "error":
        body["fault"] = {
            "code": inst.fault["code"],
            "created": iso_z(cloud, inst.fault["created"]),  # type: ignore[arg-type]
            "message": inst.fault["message"],
        }
    return body


# What PUT /servers/{id} leaves out below 2.75 (from 2.75 it answers as GET does).
_NOT_IN_UPDATE = ("config_drive", "key_name", "security_groups", "host_status")
_NOT_IN_UPDATE_PREFIXES = ("OS-EXT-", "OS-SRV-USG:", "os-extended-volumes:")


def server_updated(cloud: SimCloud, inst: Instance, base: str, mv: Version) -> dict[str, object]:
    """The PUT /servers/{id} answer: below 2.75 without the extended attributes."""
    body = server_detail(cloud, inst, base, mv, one=True)
    if mv >= (2, 75):
        return body
    return {
        k: v
        for k, v in body.items()
        if k not in _NOT_IN_UPDATE and not k.startswith(_NOT_IN_UPDATE_PREFIXES)
    }


def as_member(body: dict[str, object], mv: Version) -> dict[str, object]:
    """What a non-admin is shown: no extended server attributes (the host, the hypervisor,
    the libvirt name...) and no host_status, which Nova's default policy keeps for admins;
    from 2.90 the hostname is everyone's."""

    def shown(key: str) -> bool:
        if key == "OS-EXT-SRV-ATTR:hostname":
            return mv >= (2, 90)
        return key != "host_status" and not key.startswith("OS-EXT-SRV-ATTR:")

    return {k: v for k, v in body.items() if shown(k)}
