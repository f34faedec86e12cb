"""The instance action log (os-instance-actions): where Nova records why a move failed."""

from __future__ import annotations

from novaflow.sim.model import ActionEvent, Instance, InstanceAction
from novaflow.sim.state import SimCloud

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


def start_action(cloud: SimCloud, inst: Instance, action: str) -> InstanceAction:
    record = InstanceAction(
        action=action,
        request_id=f"req-{cloud.new_uuid()}",
        instance_id=inst.id,
        project_id=cloud.projects["admin"],
        user_id=cloud.users["admin"],
        start=cloud.now,
        updated=cloud.now,
    )
    cloud.actions.setdefault(inst.id, []).append(record)
    cloud.actions_by_request[record.request_id] = record
    return record


def add_event(
    cloud: SimCloud,
    request_id: str | None,
    event: str,
    *,
    ok: bool,
    host: str | None = None,
    details: str | None = None,
    exception: str = "NovaException",
) -> None:
    """Close one step of an action; a failed step marks the whole action as an error.

    Event names are Nova's (`<service>_<method>`: conductor_migrate_server,
    compute_prep_resize...), so a client reading them reads what it would read on Nova."""
    record = cloud.actions_by_request.get(request_id or "")
    if record is None:
        return
    record.events.append(
        ActionEvent(
            event=event,
            start=record.updated,
            finish=cloud.now,
            result="Success" if ok else "Error",
            host=host,
            details=None if ok else details,
            exception=None if ok else exception,
        )
    )
    record.updated = cloud.now
    if not ok:
        record.message = "Error"
