"""In-process test harness: run a sim on a free loopback port and inspect it directly."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from novaflow.sim.clouds_yaml import CLOUD_NAME, write_clouds_yaml
from novaflow.sim.control_stats import sim_stats
from novaflow.sim.faults import FaultPlan
from novaflow.sim.lifecycle import kill_host, revive_host
from novaflow.sim.model import Instance, Migration
from novaflow.sim.runner import BackgroundServer
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.state import SimCloud

if TYPE_CHECKING:
    from openstack.connection import Connection

T = TypeVar("T")
DEFAULT_TIME_SCALE = 0.002  # 100 simulated seconds take 0.2 real seconds


class SimHandle:
    """A running sim: where it listens, how to connect, and its state for assertions."""

    def __init__(self, cloud: SimCloud, server: BackgroundServer, clouds_yaml: Path) -> None:
        self.cloud = cloud
        self.server = server
        self.url = server.url
        self.port = server.port
        self.clouds_yaml = clouds_yaml
        self.cloud_name = CLOUD_NAME

    @property
    def state(self) -> SimCloud:
        """The live SimCloud, advanced to now (hold `state.lock` while walking it)."""
        self.cloud.advance()
        return self.cloud

    @property
    def env(self) -> dict[str, str]:
        """Environment for the `openstack` CLI: OS_CLIENT_CONFIG_FILE and OS_CLOUD."""
        return {"OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml), "OS_CLOUD": self.cloud_name}

    def connect(self, **kwargs: Any) -> Connection:
        """An openstacksdk Connection to this sim, built from its clouds.yaml."""
        import openstack.config
        from openstack.connection import Connection

        config = openstack.config.OpenStackConfig(config_files=[str(self.clouds_yaml)])
        region = config.get_one(cloud=self.cloud_name, **kwargs)
        return Connection(config=region)

    # -- reading state ------------------------------------------------------------------

    def instance(self, server_id: str) -> Instance:
        with self.cloud.lock:
            self.cloud.advance()
            return self.cloud.instance(server_id)

    def host_of(self, server_id: str) -> str | None:
        return self.instance(server_id).host

    def status_of(self, server_id: str) -> str:
        return self.instance(server_id).status

    def server_id(self, name: str) -> str:
        with self.cloud.lock:
            for inst in self.cloud.instances.values():
                if inst.name == name:
                    return inst.id
        raise KeyError(f"no instance named {name!r}")

    def instances_on(self, host: str) -> list[str]:
        with self.cloud.lock:
            self.cloud.advance()
            return sorted(i.id for i in self.cloud.instances.values() if i.host == host)

    def migrations(self, server_id: str | None = None) -> list[Migration]:
        with self.cloud.lock:
            self.cloud.advance()
            ms = list(self.cloud.migrations.values())
        return [m for m in ms if server_id in (None, m.instance_id)]

    def stats(self) -> dict[str, Any]:
        return sim_stats(self.cloud)

    def reset_stats(self) -> None:
        with self.cloud.lock:
            self.cloud.requests.clear()
            self.cloud.injected_errors = 0
            self.cloud.injected_resets = 0

    # -- changing state -----------------------------------------------------------------

    def set_faults(self, plan: FaultPlan | dict[str, Any] | None = None, **fields: Any) -> None:
        if plan is None or isinstance(plan, dict):
            plan = FaultPlan.model_validate({**(plan or {}), **fields})
        self.cloud.set_faults(plan)

    def kill_host(self, name: str) -> None:
        with self.cloud.lock:
            self.cloud.advance()
            kill_host(self.cloud, name)

    def revive_host(self, name: str) -> None:
        with self.cloud.lock:
            self.cloud.advance()
            revive_host(self.cloud, name)

    def expire_tokens(self) -> None:
        with self.cloud.lock:
            self.cloud.tokens.clear()

    def advance(self, sim_seconds: float) -> None:
        """Jump simulated time forward (everything due meanwhile happens, in order)."""
        self.cloud.skip(sim_seconds)

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 10.0,
        interval: float = 0.01,
        what: str = "condition",
    ) -> T:
        """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
        return wait_for(predicate, timeout=timeout, interval=interval, what=what)

    def close(self, wait: bool = False) -> None:
        """Stop serving; without `wait` the shutdown finishes in the background."""
        self.server.stop(wait=wait)


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.01,
    what: str = "condition",
) -> T:
    """Bounded poll: the truthy value of `predicate()`, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def running_sim(
    spec: ClusterSpec | None = None,
    *,
    hosts: int = 4,
    instances: int = 24,
    seed: int = 1,
    time_scale: float = DEFAULT_TIME_SCALE,
    faults: FaultPlan | dict[str, Any] | None = None,
    password: str = "secret",
    directory: Path | None = None,
    port: int = 0,
    max_microversion: str | None = None,
) -> Iterator[SimHandle]:
    """Start a sim (given `spec`, or a seeded one) and stop it on exit.

    >>> with running_sim(hosts=3, instances=10) as sim:
    ...     conn = sim.connect()
    """
    if spec is None:
        spec = ClusterSpec.generated(hosts=hosts, instances=instances, seed=seed)
    plan = FaultPlan.model_validate(faults) if isinstance(faults, dict) else faults
    cloud = SimCloud(
        spec,
        time_scale=time_scale,
        faults=plan,
        password=password,
        max_microversion=max_microversion,
    )
    server = BackgroundServer(cloud, port=port)
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sim-")))
        clouds_yaml = write_clouds_yaml(directory / "clouds.yaml", server.url, password)
        server.start()
        handle = SimHandle(cloud, server, clouds_yaml)
        try:
            yield handle
        finally:
            handle.close()
