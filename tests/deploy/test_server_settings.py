"""The README's production set-up gives the Prefect server, the workers and prefect.yaml the
settings the tests, the demo, the benchmarks and the production lane run with: one source,
deployments/server_settings.py and deployments/production/crashes.py."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from deployments.production.crashes import WORKER_SETTINGS
from deployments.server_settings import SERVER_SETTINGS, WORK_POOL

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def exported() -> dict[str, str]:
    return dict(re.findall(r"^export (PREFECT_\w+)=(\S+)$", README.read_text(), re.M))


def test_the_readme_exports_every_server_setting_with_its_value():
    server = {
        k: v
        for k, v in exported().items()
        if k.startswith("PREFECT_SERVER_") and k != "PREFECT_SERVER_DATABASE_CONNECTION_URL"
    }
    assert server == SERVER_SETTINGS


def test_the_readme_gives_workers_their_settings_and_the_pool_its_name():
    workers = {k: v for k, v in exported().items() if k.startswith("PREFECT_FLOWS_")}
    assert workers == WORKER_SETTINGS
    text = README.read_text()
    assert f"prefect work-pool create {WORK_POOL} --type process" in text
    assert f"prefect worker start --pool {WORK_POOL}" in text


def test_every_deployment_of_prefect_yaml_goes_to_the_work_pool_and_holds_no_run_slot():
    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    for deployment in deployments:
        assert deployment["work_pool"]["name"] == WORK_POOL, deployment["name"]
        # A deployment concurrency limit's lease is renewed with raise_on_lease_renewal_failure
        # on: a busy server would stop the run, a live migration in it included.
        assert "concurrency_limit" not in deployment, deployment["name"]
