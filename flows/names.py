"""Flow run names that say the scenario and the host, so the runs list reads like a log book.

`run_name_for` is pure (the CLI can name a run before starting it); `run_name` is what the
flows pass as Prefect's `flow_run_name`, reading the run's own parameters.
"""

from __future__ import annotations

from typing import Any

from prefect.runtime import flow_run

from novaflow.gates import MAX_HOSTS_NAMED

MAX_NAME = 100


def _hosts(hosts: list[str]) -> str:
    shown = "-".join(hosts[:MAX_HOSTS_NAMED])
    more = len(hosts) - MAX_HOSTS_NAMED
    return shown + (f"-and-{more}-more" if more > 0 else "")


def run_name_for(flow_name: str, params: dict[str, Any]) -> str:
    """'maintenance-sim-compute-3', 'rolling-zone-az1', 'rebalance-spread', ..."""
    host = params.get("host")
    if flow_name == "node-maintenance":
        name = f"maintenance-{host}"
    elif flow_name == "failing-node":
        name = f"failing-{host}"
    elif flow_name == "evacuate-failed-node":
        name = f"evacuate-{host}"
    elif flow_name == "rolling-maintenance":
        if params.get("hosts"):
            name = f"rolling-{_hosts(list(params['hosts']))}"
        elif params.get("aggregate"):
            name = f"rolling-aggregate-{params['aggregate']}"
        else:
            name = f"rolling-zone-{params.get('zone')}"
    elif flow_name == "rebalance":
        strategy = params.get("strategy") or "spread"
        where = params.get("target_hosts") or [params.get("target_aggregate") or ""]
        where = [w for w in where if w] or (
            [params["target_zone"]] if params.get("target_zone") else []
        )
        name = f"rebalance-{strategy}" + (f"-to-{_hosts(where)}" if where else "")
    elif flow_name == "watch-compute-services":
        name = f"watch-{params.get('cloud', 'sim')}"
    else:
        name = flow_name
    return name[:MAX_NAME]


def run_name() -> str:
    """Prefect's flow_run_name callable: the name from this run's flow and parameters."""
    return run_name_for(flow_run.flow_name, dict(flow_run.parameters or {}))
