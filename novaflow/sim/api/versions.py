"""Version discovery documents of compute, placement and image (what keystoneauth reads)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from novaflow.sim import microversion
from novaflow.sim.api.deps import base_url, cloud_of, count

router = APIRouter()


def compute_version(base: str, compute_max: microversion.Version) -> dict[str, object]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": microversion.fmt(compute_max),
        "min_version": microversion.fmt(microversion.COMPUTE_MIN),
        "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": f"{base}/compute/v2.1/"},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


@router.get("/compute")
@router.get("/compute/")
async def compute_versions(request: Request) -> object:
    count(request)
    return JSONResponse(
        {"versions": [compute_version(base_url(request), cloud_of(request).compute_max)]}
    )


@router.get("/compute/v2.1")
@router.get("/compute/v2.1/")
async def compute_v21(request: Request) -> object:
    count(request)
    return JSONResponse(
        {"version": compute_version(base_url(request), cloud_of(request).compute_max)}
    )


@router.get("/placement")
@router.get("/placement/")
async def placement_root(request: Request) -> object:
    count(request)
    return JSONResponse(
        {
            "versions": [
                {
                    "id": "v1.0",
                    "min_version": microversion.fmt(microversion.PLACEMENT_MIN),
                    "max_version": microversion.fmt(microversion.PLACEMENT_MAX),
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": ""}],
                }
            ]
        }
    )


def _image_versions(base: str) -> dict[str, object]:
    values = []
    for vid, status in (("v2.16", "CURRENT"), ("v2.15", "SUPPORTED"), ("v2.0", "SUPPORTED")):
        values.append(
            {"id": vid, "status": status, "links": [{"rel": "self", "href": f"{base}/image/v2/"}]}
        )
    return {"versions": values}


@router.get("/image")
@router.get("/image/")
@router.get("/image/versions")
async def image_versions(request: Request) -> object:
    count(request)
    return JSONResponse(_image_versions(base_url(request)), status_code=300)
