"""docs/policy.md lists the Nova policy rule of every call novaflow/cloud/ makes."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _cloud_source() -> str:
    """Every module of novaflow/cloud/, the only code that talks to OpenStack."""
    return "\n".join(p.read_text() for p in sorted((REPO / "novaflow/cloud").glob("*.py")))


SERVERS_DETAIL = [
    "os_compute_api:servers:detail",
    "os_compute_api:servers:detail:get_all_tenants",
    "os_compute_api:os-extended-server-attributes",
]
# Each openstacksdk compute proxy method novaflow/cloud/ calls -> the rules Nova checks for it.
RULES = {
    "get_endpoint_data": [],  # version discovery: unauthenticated
    "get_endpoint": [],
    "get": [],  # JSON reads: their rules depend on the path (JSON_PATHS)
    "servers": [*SERVERS_DETAIL, "os_compute_api:servers:allow_all_filters"],
    "get_server": ["os_compute_api:servers:show", "os_compute_api:os-extended-server-attributes"],
    "migrations": ["os_compute_api:os-migrations:index"],
    "hypervisors": ["os_compute_api:os-hypervisors:list-detail"],
    "aggregates": ["os_compute_api:os-aggregates:index"],
    "services": ["os_compute_api:os-services:list"],
    "disable_service": ["os_compute_api:os-services:update"],
    "update_service": ["os_compute_api:os-services:update"],
    "server_actions": ["os_compute_api:os-instance-actions:list"],
    "get_server_action": [
        "os_compute_api:os-instance-actions:show",
        "os_compute_api:os-instance-actions:events",
        "os_compute_api:os-instance-actions:events:details",
    ],
    "enable_service": ["os_compute_api:os-services:update"],
    "update_service_forced_down": ["os_compute_api:os-services:update"],
    "live_migrate_server": ["os_compute_api:os-migrate-server:migrate_live"],
    "migrate_server": [
        "os_compute_api:os-migrate-server:migrate",
        "os_compute_api:os-migrate-server:migrate:host",
    ],
    "confirm_server_resize": ["os_compute_api:servers:confirm_resize"],
    "revert_server_resize": ["os_compute_api:servers:revert_resize"],
    "evacuate_server": ["os_compute_api:os-evacuate"],
    "abort_server_migration": ["os_compute_api:servers:migrations:delete"],
    "force_complete_server_migration": ["os_compute_api:servers:migrations:force_complete"],
    "lock_server": ["os_compute_api:os-lock-server:lock"],
    "unlock_server": ["os_compute_api:os-lock-server:unlock"],
    "reset_server_state": ["os_compute_api:os-admin-actions:reset_state"],
    "start_server": ["os_compute_api:servers:start"],
    "stop_server": ["os_compute_api:servers:stop"],
    # The campaign's optional canary: the smallest flavor, booted, moved by a forced live
    # migration (live_migrate_server), deleted.
    "flavors": [],  # listing flavors is open to every user
    "post": ["os_compute_api:servers:create"],
    "delete_server": ["os_compute_api:servers:delete"],
}
# Paths read as JSON through the compute proxy's `get` (directly or via `_json_pages`).
JSON_PATHS = {
    '"/servers/detail"': [*SERVERS_DETAIL, "os_compute_api:servers:allow_all_filters"],
    'f"/servers/{instance_id}"': [
        "os_compute_api:servers:show",
        "os_compute_api:os-extended-server-attributes",
    ],
    '"/os-migrations"': ["os_compute_api:os-migrations:index"],
    '"/os-hypervisors/detail"': ["os_compute_api:os-hypervisors:list-detail"],
}
# Placement reads (`_placement_get`) -> Placement's policy rules.
PLACEMENT_PATHS = {
    '"/resource_providers"': ["placement:resource_providers:list"],
    '"/allocation_candidates"': ["placement:allocation_candidates:list"],
    'f"/resource_providers/{p.uuid}/inventories"': [
        "placement:resource_providers:inventories:list"
    ],
    'f"/resource_providers/{p.uuid}/usages"': ["placement:resource_providers:usages"],
}
# Calls made through sdk resources rather than proxy methods.
RESOURCE_CALLS = {
    "_ServerGroupPage.list": [
        "os_compute_api:os-server-groups:index",
        "os_compute_api:os-server-groups:index:all_projects",
    ],
}


def test_every_cloud_call_has_its_policy_rules_documented() -> None:
    source = _cloud_source()
    policy = (REPO / "docs/policy.md").read_text()
    called = set(re.findall(r"self\.conn\.compute\.(\w+)", source))
    assert called, "no compute call found: the pattern no longer matches novaflow/cloud/"
    unmapped = called - set(RULES)
    assert not unmapped, (
        f"novaflow/cloud/ calls {unmapped}: add their Nova policy rules here and to docs"
    )
    assert all(name in source for name in RESOURCE_CALLS)
    read = set(re.findall(r"compute\.get\(\s*(f?\"[^\"]+\")", source))
    read |= set(re.findall(r"_json_pages\(\s*\w+,\s*(f?\"[^\"]+\")", source))
    assert read, "no JSON read found: the pattern no longer matches novaflow/cloud/"
    assert read <= set(JSON_PATHS), (
        f"novaflow/cloud/ reads {read - set(JSON_PATHS)}: add their rules"
    )
    needed = {rule for name in called for rule in RULES[name]}
    needed |= {rule for path in read for rule in JSON_PATHS[path]}
    needed |= {rule for rules in RESOURCE_CALLS.values() for rule in rules}
    documented = set(re.findall(r"`(os_compute_api:[\w:.-]+)`", policy))
    assert needed - documented == set(), "missing from docs/policy.md"
    # Least privilege: the doc asks for nothing the calls do not need (the 'Not needed'
    # paragraph names rules only to say they are not needed).
    table = policy.split("Not needed:")[0]
    asked = set(re.findall(r"`(os_compute_api:[\w:.-]+)`", table))
    assert asked - needed == set(), "docs/policy.md asks for rules no call needs"


def test_every_placement_read_has_its_policy_rules_documented() -> None:
    source = _cloud_source()
    policy = (REPO / "docs/policy.md").read_text()
    read = set(re.findall(r"_placement_get\(\s*(?:f?\"[^\"]+\"|\w+),\s*(f?\"[^\"]+\")", source))
    assert read, "no Placement read found: the pattern no longer matches novaflow/cloud/"
    assert read <= set(PLACEMENT_PATHS), f"novaflow/cloud/ reads {read - set(PLACEMENT_PATHS)}"
    needed = {rule for path in read for rule in PLACEMENT_PATHS[path]}
    documented = set(re.findall(r"`(placement:[\w:.-]+)`", policy.split("Not needed:")[0]))
    assert needed == documented, "docs/policy.md must list exactly the Placement rules needed"
