"""Write the clouds.yaml that points openstacksdk and the `openstack` CLI at a running sim."""

from __future__ import annotations

import json
from pathlib import Path

CLOUD_NAME = "sim"


def clouds_config(url: str, password: str, cloud_name: str = CLOUD_NAME) -> dict[str, object]:
    return {
        "clouds": {
            cloud_name: {
                "auth": {
                    "auth_url": f"{url}/identity/v3",
                    "username": "admin",
                    "password": password,
                    "project_name": "admin",
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                "auth_type": "password",
                "region_name": "RegionOne",
                "identity_api_version": 3,
                "interface": "public",
            }
        }
    }


def write_clouds_yaml(path: Path, url: str, password: str, cloud_name: str = CLOUD_NAME) -> Path:
    """Write (or overwrite) `path`; JSON is valid YAML, so no YAML library is needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clouds_config(url, password, cloud_name), indent=2) + "\n")
    return path
