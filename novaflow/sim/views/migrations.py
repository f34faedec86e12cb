"""Views of migration records: /os-migrations and /servers/{id}/migrations."""

from __future__ import annotations

from novaflow.sim.microversion import Version
from novaflow.sim.model import Migration
from novaflow.sim.state import SimCloud
from novaflow.sim.views.common import iso_us


def os_migration(cloud: SimCloud, m: Migration, base: str, mv: Version) -> dict[str, object]:
    dest = cloud.hosts.get(m.dest_compute or "")
    body: dict[str, object] = {
        "id": m.id,
        "instance_uuid": m.instance_id,
        "source_compute": m.source_compute,
        "source_node": m.source_compute,
        "dest_compute": m.dest_compute,
        "dest_node": m.dest_compute,
        "dest_host": dest.host_ip if dest else None,
        "status": m.status,
        "old_instance_type_id": int(m.flavor_id) if m.flavor_id.isdigit() else 0,
        "new_instance_type_id": int(m.flavor_id) if m.flavor_id.isdigit() else 0,
        "created_at": iso_us(cloud, m.created),
        "updated_at": iso_us(cloud, m.updated),
    }
    if mv >= (2, 23):
        body["migration_type"] = m.migration_type
        if m.migration_type == "live-migration" and m.status in ("queued", "preparing", "running"):
            href = f"{base}/servers/{m.instance_id}/migrations/{m.id}"
            body["links"] = [
                {"rel": "self", "href": href},
                {"rel": "bookmark", "href": href.replace("/v2.1/", "/")},
            ]
    if mv >= (2, 59):
        body["uuid"] = m.uuid
    if mv >= (2, 80):
        body["project_id"] = m.project_id
        body["user_id"] = m.user_id
    return body


def server_migration(cloud: SimCloud, m: Migration, mv: Version) -> dict[str, object]:
    dest = cloud.hosts.get(m.dest_compute or "")
    progress = 0.0
    if m.status == "running" and m.running_since is not None:
        elapsed = cloud.now - m.running_since
        progress = 0.9 if m.hang else min(0.99, elapsed / max(m.running_duration, 1e-9))
    mem, disk = m.memory_total_bytes, m.disk_total_bytes
    body: dict[str, object] = {
        "id": m.id,
        "server_uuid": m.instance_id,
        "source_compute": m.source_compute,
        "source_node": m.source_compute,
        "dest_compute": m.dest_compute,
        "dest_node": m.dest_compute,
        "dest_host": dest.host_ip if dest else None,
        "status": m.status,
        "created_at": iso_us(cloud, m.created),
        "updated_at": iso_us(cloud, m.updated),
        "memory_total_bytes": mem,
        "memory_processed_bytes": int(mem * progress),
        "memory_remaining_bytes": mem - int(mem * progress),
        "disk_total_bytes": disk,
        "disk_processed_bytes": int(disk * progress),
        "disk_remaining_bytes": disk - int(disk * progress),
    }
    if mv >= (2, 59):
        body["uuid"] = m.uuid
    if mv >= (2, 80):
        body["project_id"] = m.project_id
        body["user_id"] = m.user_id
    return body
