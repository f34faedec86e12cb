"""Minimal Glance v2: list and show images (the CLI looks up image names through it)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from novaflow.sim.api.deps import api_guard, cloud_of, ok, query_int
from novaflow.sim.errors import NovaError
from novaflow.sim.model import Image
from novaflow.sim.state import SimCloud

router = APIRouter(prefix="/image/v2", dependencies=[Depends(api_guard)])


def _view(cloud: SimCloud, i: Image) -> dict[str, object]:
    ts = cloud.time(i.created).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": i.id,
        "name": i.name,
        "status": "active",
        "visibility": "public",
        "protected": False,
        "os_hidden": False,
        "owner": i.owner,
        "tags": [],
        "disk_format": "qcow2",
        "container_format": "bare",
        "size": i.size,
        "virtual_size": i.size * 3,
        "min_disk": i.min_disk,
        "min_ram": 0,
        "checksum": i.id.replace("-", "")[:32],
        "created_at": ts,
        "updated_at": ts,
        "self": f"/v2/images/{i.id}",
        "file": f"/v2/images/{i.id}/file",
        "schema": "/v2/schemas/image",
    }


@router.get("/images")
async def list_images(request: Request) -> object:
    q = request.query_params
    cloud = cloud_of(request)
    with cloud.lock:
        images = sorted(cloud.images.values(), key=lambda i: (i.name, i.id))
        if "id" in q:
            wanted = q["id"].removeprefix("in:").split(",")
            images = [i for i in images if i.id in wanted]
        if "name" in q:
            images = [i for i in images if i.name == q["name"]]
        if "marker" in q:
            ids = [i.id for i in images]
            if q["marker"] not in ids:
                raise NovaError(400, f"marker {q['marker']} could not be found.")
            images = images[ids.index(q["marker"]) + 1 :]
        limit = query_int(q.get("limit"), "limit") or 25
        chunk = images[:limit]
        body: dict[str, object] = {
            "images": [_view(cloud, i) for i in chunk],
            "first": "/v2/images",
            "schema": "/v2/schemas/images",
        }
        if len(images) > limit:
            body["next"] = f"/v2/images?marker={chunk[-1].id}&limit={limit}"
        return ok(body)


@router.get("/images/{image_id}")
async def show_image(request: Request, image_id: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        image = cloud.images.get(image_id)
        if image is None:
            raise NovaError(404, f"No image found with ID {image_id}")
        return ok(_view(cloud, image))
