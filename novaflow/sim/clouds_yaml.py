"""Write the clouds.yaml that points openstacksdk and the `openstack` CLI at a running sim."""

from __future__ import annotations

import json
from pathlib import Path

CLOUD_NAME = "sim"


def _cloud(url: str, password: str, user: str, project: str) -> dict[str, object]:
    return {
        "auth": {
            "auth_url": f"{url}/identity/v3",
            "username": user,
            "password": password,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "auth_type": "password",
        "region_name": "RegionOne",
        "identity_api_version": 3,
        "interface": "public",
    }


def clouds_config(url: str, password: str, cloud_name: str = CLOUD_NAME) -> dict[str, object]:
    """`cloud_name` as admin, and `<cloud_name>-member` as a user Nova's policy refuses the
    admin APIs (role member in project demo), to see what an operator without admin meets."""
    return {
        "clouds": {
            cloud_name: _cloud(url, password, "admin", "admin"),
            f"{cloud_name}-member": _cloud(url, password, "member", "demo"),
        }
    }


def write_clouds_yaml(path: Path, url: str, password: str, cloud_name: str = CLOUD_NAME) -> Path:
    """Write (or overwrite) `path`; JSON is valid YAML, so no YAML library is needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clouds_config(url, password, cloud_name), indent=2) + "\n")
    return path
