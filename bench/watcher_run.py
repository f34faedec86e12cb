"""Run one of OpenStack Watcher's strategies offline on a cloud given as JSON (bench-only).

This runs in the bench-only environment (`.venv-bench`, bench/watcher-requirements.txt),
which has python-watcher and matplotlib but not novaflow: bench/watcher.py writes the cloud
as plain JSON, runs this module there and scores what comes back with novaflow's own
validator. No database and no message bus: the strategy objects are built directly, their
compute model (watcher.decision_engine.model) filled from the JSON and their datasource
answering from the same per-instance CPU load novaflow plans on.

    python -m bench.watcher_run run STRATEGY cloud.json result.json
    python -m bench.watcher_run plot points.json tradeoff.png
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

from watcher.common import utils  # noqa: E402
from watcher.decision_engine.datasources.base import DataSourceBase  # noqa: E402
from watcher.decision_engine.model import element, model_root  # noqa: E402
from watcher.decision_engine.solution.default import DefaultSolution  # noqa: E402
from watcher.decision_engine.strategy.strategies import (  # noqa: E402
    node_resource_consolidation,
    vm_workload_consolidation,
    workload_balance,
)

WORKLOAD_BALANCE_ROUNDS = 100_000
"""workload_balance plans one migration per audit: it is re-run on its own result until it
plans none (convergence), at most this many times."""


class BenchLoad(DataSourceBase):
    """A Watcher datasource answering from the cloud's measured load, as Prometheus would.

    CPU is a percentage of the instance's vCPUs (of the host's threads for hosts), as
    Watcher's Prometheus datasource returns it; RAM and disk are what the flavor allocates
    (the benchmark has no RAM telemetry). Host values are measured before any plan, as a
    real datasource's are: strategies account for their own moves.
    """

    NAME = "bench"
    METRIC_MAP = dict(
        host_cpu_usage="host_cpu_usage",
        host_ram_usage=None,
        host_outlet_temp=None,
        host_inlet_temp=None,
        host_airflow=None,
        host_power=None,
        instance_cpu_usage="instance_cpu_usage",
        instance_ram_usage="instance_ram_usage",
        instance_ram_allocated="instance_ram_allocated",
        instance_l3_cache_usage=None,
        instance_root_disk_size="instance_root_disk_size",
    )

    def __init__(self, cloud: dict) -> None:
        super().__init__()
        self.instance = {i["uuid"]: i for i in cloud["instances"]}
        self.host = {h["uuid"]: h for h in cloud["hosts"]}

    def list_metrics(self):
        return {v for v in self.METRIC_MAP.values() if v}

    def check_availability(self):
        return "available"

    def _statistic_aggregation(
        self,
        resource=None,
        resource_type=None,
        meter_name=None,
        period=300,
        aggregate="mean",
        granularity=300,
    ):
        if meter_name == "instance_cpu_usage":
            return self.instance[resource.uuid]["cpu_percent"]
        if meter_name in ("instance_ram_usage", "instance_ram_allocated"):
            return self.instance[resource.uuid]["memory"]
        if meter_name == "instance_root_disk_size":
            return self.instance[resource.uuid]["disk"]
        if meter_name == "host_cpu_usage":
            return self.host[resource.uuid]["cpu_percent"]
        return None

    def statistic_series(self, *args, **kwargs):
        return {}

    def get_host_cpu_usage(self, resource, period, aggregate, granularity=None):
        return self.statistic_aggregation(resource, "compute_node", "host_cpu_usage")

    def get_host_ram_usage(self, resource, period, aggregate, granularity=None):
        return None

    def get_host_outlet_temp(self, resource, period, aggregate, granularity=None):
        return None

    def get_host_inlet_temp(self, resource, period, aggregate, granularity=None):
        return None

    def get_host_airflow(self, resource, period, aggregate, granularity=None):
        return None

    def get_host_power(self, resource, period, aggregate, granularity=None):
        return None

    def get_instance_cpu_usage(self, resource, period, aggregate, granularity=None):
        return self.statistic_aggregation(resource, "instance", "instance_cpu_usage")

    def get_instance_ram_usage(self, resource, period, aggregate, granularity=None):
        return self.statistic_aggregation(resource, "instance", "instance_ram_usage")

    def get_instance_ram_allocated(self, resource, period, aggregate, granularity=None):
        return self.statistic_aggregation(resource, "instance", "instance_ram_allocated")

    def get_instance_l3_cache_usage(self, resource, period, aggregate, granularity=None):
        return None

    def get_instance_root_disk_size(self, resource, period, aggregate, granularity=None):
        return self.statistic_aggregation(resource, "instance", "instance_root_disk_size")


def compute_model(cloud: dict) -> model_root.ModelRoot:
    """Watcher's compute model of the cloud: one ComputeNode per host, its instances mapped."""
    model = model_root.ModelRoot()
    nodes = {}
    for h in cloud["hosts"]:
        node = element.ComputeNode(
            uuid=h["uuid"],
            hostname=h["name"],
            status=h["status"],
            state=h["state"],
            disabled_reason=None,
            memory=h["memory"],
            memory_mb_reserved=h["memory_mb_reserved"],
            disk=h["disk"],
            disk_gb_reserved=h["disk_gb_reserved"],
            vcpus=h["vcpus"],
            vcpu_reserved=h["vcpu_reserved"],
            memory_ratio=h["memory_ratio"],
            vcpu_ratio=h["vcpu_ratio"],
            disk_ratio=h["disk_ratio"],
        )
        model.add_node(node)
        nodes[h["name"]] = node
    for i in cloud["instances"]:
        inst = element.Instance(
            uuid=i["uuid"],
            name=i["name"],
            state=i["state"],
            memory=i["memory"],
            disk=i["disk"],
            vcpus=i["vcpus"],
            metadata={},
            project_id="00000000-0000-0000-0000-000000000000",
            locked=False,
            host=i["host"],
            hypervisor_hostname=i["host"],
            watcher_exclude=i["exclude"],
            pinned_az=i.get("pinned_az", ""),
        )
        model.add_instance(inst)
        model.map_instance(inst, nodes[i["host"]])
    return model


STRATEGIES = {
    "vm_workload_consolidation": (vm_workload_consolidation.VMWorkloadConsolidation, {}),
    # 'specify': the strategy names each destination (with 'auto' Nova's scheduler would,
    # and the plan could not be scored before it ran).
    "node_resource_consolidation": (
        node_resource_consolidation.NodeResourceConsolidation,
        {"host_choice": "specify"},
    ),
    "workload_balance": (
        workload_balance.WorkloadBalance,
        {"metrics": "instance_cpu_usage", "threshold": 25.0, "period": 300, "granularity": 300},
    ),
}


def _strategy(name: str, model, datasource):
    cls, params = STRATEGIES[name]
    s = cls(config=utils.Struct(datasources=None, check_optimize_metadata=False))
    s._compute_model = model
    s._datasource_backend = datasource
    s.input_parameters = utils.Struct(params)
    return s


def _migrations(solution) -> list[dict]:
    out = []
    for a in solution.actions:
        if a["action_type"] != "migrate":
            continue
        p = a["input_parameters"]
        out.append(
            {
                "id": p["resource_id"],
                "source": p["source_node"],
                "target": p.get("destination_node"),
                "method": p["migration_type"],
            }
        )
    return out


def run(name: str, cloud: dict) -> dict:
    """The strategy's migrations (in order) and seconds, as Watcher would plan them."""
    model = compute_model(cloud)
    datasource = BenchLoad(cloud)
    start = time.perf_counter()
    rounds = 1
    if name == "workload_balance":
        moves: list[dict] = []
        for rounds in range(1, WORKLOAD_BALANCE_ROUNDS + 1):  # noqa: B007
            s = _strategy(name, model, datasource)
            s.solution = DefaultSolution(goal=s.goal, strategy=s)
            got = _migrations(s.execute())
            if not got:
                break
            moves.extend(got)
    else:
        moves = _migrations(_strategy(name, model, datasource).execute())
    seconds = time.perf_counter() - start
    return {"strategy": name, "moves": moves, "seconds": seconds, "rounds": rounds}


def plot(points: dict, out: Path) -> None:
    """Hosts in use against migrations: novaflow's budget sweep beside Watcher's points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clouds = points["clouds"]
    fig, axes = plt.subplots(1, len(clouds), figsize=(5.2 * len(clouds), 4.4), squeeze=False)
    for ax, cloud in zip(axes[0], clouds, strict=True):
        sweep = cloud["sweep"]
        ax.plot(
            [p[0] for p in sweep],
            [p[1] for p in sweep],
            "-o",
            markersize=3,
            label="novaflow consolidate (budget sweep)",
        )
        for w in cloud["watcher"]:
            ax.plot(w["migrations"], w["hosts"], "s", markersize=8, label=f"Watcher {w['name']}")
        ax.axhline(cloud["lower_bound"], color="grey", ls=":", label="bin-packing lower bound")
        ax.set_title(cloud["title"])
        ax.set_xlabel("migrations")
        ax.set_ylabel("hosts in use")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str]) -> None:
    logging.disable(logging.CRITICAL)
    if argv[0] == "run":
        cloud = json.loads(Path(argv[2]).read_text())
        Path(argv[3]).write_text(json.dumps(run(argv[1], cloud)))
    elif argv[0] == "plot":
        plot(json.loads(Path(argv[1]).read_text()), Path(argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
