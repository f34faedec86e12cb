"""The only code that talks to OpenStack (openstacksdk + tenacity), in three parts over one
session: the inventory (the snapshot), the reads of servers and migrations, and the actions.

`Cloud` is all of them on one connection; the rest of novaflow imports from here.
"""

from __future__ import annotations

from novaflow.cloud.actions import Actions, ComputeService, parse_uptime
from novaflow.cloud.inventory import Snapshots
from novaflow.cloud.reads import Migration, ServerState, _instance_from_body
from novaflow.cloud.session import (
    CA_BUNDLE_ENVIRONMENT,
    MV_COLD_HOST,
    NOVAFLOW_LOCK_PREFIX,
    REQUESTS_ENVIRONMENT,
    Counters,
    RetryPolicy,
    _skip_empty_environment,
    parse_time,
)


class Cloud(Actions, Snapshots):
    """One OpenStack cloud, seen with admin credentials. Thread-safe for concurrent moves."""


__all__ = [
    "CA_BUNDLE_ENVIRONMENT",
    "MV_COLD_HOST",
    "NOVAFLOW_LOCK_PREFIX",
    "REQUESTS_ENVIRONMENT",
    "Cloud",
    "ComputeService",
    "Counters",
    "Migration",
    "RetryPolicy",
    "ServerState",
    "_instance_from_body",
    "_skip_empty_environment",
    "parse_time",
    "parse_uptime",
]
