"""`novaflow sim serve` starts a cloud on 127.0.0.1 that openstacksdk reaches via clouds.yaml."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import openstack.config
from openstack.connection import Connection

from novaflow.sim.testing import wait_for

NOVAFLOW = str(Path(sys.executable).with_name("novaflow"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_writes_clouds_yaml_and_answers(tmp_path: Path) -> None:
    port = _free_port()
    clouds_yaml = tmp_path / "clouds.yaml"
    proc = subprocess.Popen(
        [
            NOVAFLOW,
            "sim",
            "serve",
            "--hosts",
            "3",
            "--instances",
            "12",
            "--seed",
            "4",
            "--port",
            str(port),
            "--clouds-yaml",
            str(clouds_yaml),
            "--time-scale",
            "0.01",
            "--fault",
            "latency_ms=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, timeout=20, interval=0.05, what="sim serve to listen")
        config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)])
        conn = Connection(config=config.get_one(cloud="sim"))
        servers = list(conn.compute.servers(all_projects=True))
        assert len(servers) == 12
        on_0 = list(conn.compute.servers(all_projects=True, compute_host="sim-compute-0"))
        assert all(s.compute_host == "sim-compute-0" for s in on_0)
        assert '"auth_url": "http://127.0.0.1:' in clouds_yaml.read_text()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "3 hosts, 12 instances" in out
