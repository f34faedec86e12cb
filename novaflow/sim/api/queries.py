"""Which query parameters each compute route accepts, and from which microversion Nova refuses
the others (400): servers, flavors, services and server groups from 2.75, hypervisors from 2.53,
migrations from 2.59, instance actions from 2.58, every other API from 2.102."""

from __future__ import annotations

from collections.abc import Iterable

from novaflow.sim.errors import bad_request
from novaflow.sim.microversion import Version


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SERVER_FILTERS = _names(
    "user_id project_id tenant_id launch_index image_ref image kernel_id ramdisk_id "
    "hostname key_name power_state vm_state task_state host node flavor reservation_id "
    "launched_at terminated_at availability_zone name display_name description "
    "display_description locked_by uuid root_device_name config_drive access_ip_v4 "
    "access_ip_v6 auto_disk_config progress sort_key sort_dir all_tenants soft_deleted "
    "deleted status changes-since ip ip6 created_at limit marker tags tags-any not-tags "
    "not-tags-any changes-before locked"
)
_NONE: frozenset[str] = frozenset()
_STRICT_FROM_2102 = (2, 102)

# Route path (under /compute/v2.1) -> (microversion from which unknown ones are refused, known).
_ROUTES: dict[str, tuple[Version, frozenset[str]]] = {
    "/servers": ((2, 75), _SERVER_FILTERS),
    "/servers/detail": ((2, 75), _SERVER_FILTERS),
    "/servers/{server_id}": (_STRICT_FROM_2102, _NONE),
    "/servers/{server_id}/metadata": (_STRICT_FROM_2102, _NONE),
    "/servers/{server_id}/metadata/{key}": (_STRICT_FROM_2102, _NONE),
    "/servers/{server_id}/os-instance-actions": (
        (2, 58),
        frozenset({"limit", "marker", "changes-since", "changes-before"}),
    ),
    "/servers/{server_id}/os-instance-actions/{request_id}": (_STRICT_FROM_2102, _NONE),
    "/servers/{server_id}/migrations": (_STRICT_FROM_2102, _NONE),
    "/servers/{server_id}/migrations/{migration_id}": (_STRICT_FROM_2102, _NONE),
    "/os-migrations": (
        (2, 59),
        _names(
            "hidden host instance_uuid source_compute status migration_type limit marker "
            "changes-since changes-before user_id project_id"
        ),
    ),
    "/os-services": ((2, 75), frozenset({"host", "binary"})),
    "/os-hypervisors": (
        (2, 53),
        frozenset({"limit", "marker", "hypervisor_hostname_pattern", "with_servers"}),
    ),
    "/os-hypervisors/detail": (
        (2, 53),
        frozenset({"limit", "marker", "hypervisor_hostname_pattern", "with_servers"}),
    ),
    "/os-hypervisors/{hypervisor_id}": ((2, 53), frozenset({"with_servers"})),
    "/os-availability-zone": (_STRICT_FROM_2102, _NONE),
    "/os-availability-zone/detail": (_STRICT_FROM_2102, _NONE),
    "/os-aggregates": (_STRICT_FROM_2102, _NONE),
    "/os-aggregates/{aggregate_id}": (_STRICT_FROM_2102, _NONE),
    "/flavors": (
        (2, 75),
        frozenset({"limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir"}),
    ),
    "/flavors/detail": (
        (2, 75),
        frozenset({"limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir"}),
    ),
    "/flavors/{flavor_id}": (_STRICT_FROM_2102, _NONE),
    "/flavors/{flavor_id}/os-extra_specs": (_STRICT_FROM_2102, _NONE),
    "/flavors/{flavor_id}/os-extra_specs/{key}": (_STRICT_FROM_2102, _NONE),
    "/os-server-groups": ((2, 75), frozenset({"all_projects", "limit", "offset"})),
    "/os-server-groups/{group_id}": (_STRICT_FROM_2102, _NONE),
}
# Parameters a later microversion adds to a route's known ones.
_ADDED: dict[tuple[str, Version], frozenset[str]] = {
    ("/flavors", (2, 102)): frozenset({"name"}),
    ("/flavors/detail", (2, 102)): frozenset({"name"}),
}


def check_query(path: str, names: Iterable[str], v: Version) -> None:
    """Refuse unknown query parameters of a GET on `path` as Nova's query schemas do."""
    rule = _ROUTES.get(path.removeprefix("/compute/v2.1"))
    if rule is None or v < rule[0]:
        return
    route = path.removeprefix("/compute/v2.1")
    known = set(rule[1])
    for (where, since), extra in _ADDED.items():
        if where == route and v >= since:
            known |= extra
    unknown = sorted(set(names) - known)
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        verb = "was" if len(unknown) == 1 else "were"
        raise bad_request(f"Additional properties are not allowed ({listed} {verb} unexpected)")
