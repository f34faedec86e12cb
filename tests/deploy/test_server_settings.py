"""The README's production set-up gives the Prefect server the settings the tests, the demo and
the benchmarks run it with (deployments/server_settings.py)."""

from __future__ import annotations

import re
from pathlib import Path

from deployments.server_settings import SERVER_SETTINGS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_exports_every_server_setting_with_its_value():
    exported = dict(
        re.findall(r"^export (PREFECT_SERVER_SERVICES_\w+)=(\S+)$", README.read_text(), re.M)
    )
    assert exported == SERVER_SETTINGS
