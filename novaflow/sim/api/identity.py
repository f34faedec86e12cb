"""Keystone v3: version discovery, password/token auth with a catalog, token validation."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from novaflow.sim.api.deps import (
    MEMBER_PROJECT,
    MEMBER_USER,
    UNAUTHORIZED,
    base_url,
    cloud_of,
    count,
    json_body,
)
from novaflow.sim.state import ADMIN_USER, SimCloud, stable_id

router = APIRouter()
REGION = "RegionOne"
MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def _version(base: str) -> dict[str, object]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
        "media-types": MEDIA,
    }


@router.get("/identity")
@router.get("/identity/")
async def identity_versions(request: Request) -> object:
    count(request)
    return JSONResponse({"versions": {"values": [_version(base_url(request))]}}, status_code=300)


@router.get("/identity/v3")
@router.get("/identity/v3/")
async def identity_v3(request: Request) -> object:
    count(request)
    return JSONResponse({"version": _version(base_url(request))})


def catalog(base: str) -> list[dict[str, object]]:
    services = [
        ("identity", "keystone", f"{base}/identity"),
        ("compute", "nova", f"{base}/compute/v2.1"),
        ("placement", "placement", f"{base}/placement"),
        ("image", "glance", f"{base}/image"),
    ]
    out = []
    for kind, name, url in services:
        endpoints = [
            {
                "id": stable_id(kind, iface),
                "interface": iface,
                "region_id": REGION,
                "region": REGION,
                "url": url,
            }
            for iface in ("public", "internal", "admin")
        ]
        out.append(
            {"id": stable_id("service", kind), "type": kind, "name": name, "endpoints": endpoints}
        )
    return out


def _unauthorized() -> JSONResponse:
    return JSONResponse(UNAUTHORIZED, status_code=401)


def _authenticate(cloud: SimCloud, identity: dict[str, Any]) -> str | None:
    """The user name the credentials prove (admin or member), or None."""
    methods = identity.get("methods") or []
    if "password" in methods:
        user = (identity.get("password") or {}).get("user") or {}
        if user.get("password") != cloud.password:
            return None
        member_id = stable_id("user", MEMBER_USER)
        if user.get("name") == ADMIN_USER or user.get("id") == cloud.users[ADMIN_USER]:
            return ADMIN_USER
        if user.get("name") == MEMBER_USER or user.get("id") == member_id:
            return MEMBER_USER
        return None
    if "token" in methods:
        token = (identity.get("token") or {}).get("id")
        if token in cloud.tokens:
            return MEMBER_USER if token in cloud.member_tokens else ADMIN_USER
    return None


def token_body(
    cloud: SimCloud, base: str, issued: datetime, user: str = ADMIN_USER
) -> dict[str, object]:
    """The token: `admin` holds the admin role in project admin; `member` only member/reader
    in project demo, so Nova's policy refuses it the admin APIs."""
    domain = {"id": "default", "name": "Default"}
    if user == MEMBER_USER:
        project, user_id, roles = MEMBER_PROJECT, stable_id("user", MEMBER_USER), ("member",)
    else:
        project, user_id, roles = "admin", cloud.users[ADMIN_USER], ("admin", "member")
    return {
        "token": {
            "methods": ["password"],
            "user": {
                "id": user_id,
                "name": user,
                "domain": domain,
                "password_expires_at": None,
            },
            "audit_ids": [secrets.token_urlsafe(16)],
            "expires_at": (issued + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "project": {"id": cloud.project_id(project), "name": project, "domain": domain},
            "is_domain": False,
            "roles": [{"id": stable_id("role", r), "name": r} for r in (*roles, "reader")],
            "catalog": catalog(base),
        }
    }


@router.post("/identity/v3/auth/tokens")
@router.post("/identity/auth/tokens")
@router.post("/v3/auth/tokens")
async def issue_token(request: Request) -> object:
    count(request)
    body = await json_body(request)
    cloud = cloud_of(request)
    identity = (body.get("auth") or {}).get("identity") or {}
    with cloud.lock:
        user = _authenticate(cloud, identity)
        if user is None:
            return _unauthorized()
        token = "gAAAAA" + secrets.token_urlsafe(48)
        cloud.tokens.add(token)
        if user == MEMBER_USER:
            cloud.member_tokens.add(token)
        body = token_body(cloud, base_url(request), datetime.now(UTC), user)
    return JSONResponse(
        body,
        status_code=201,
        headers={"X-Subject-Token": token},
    )


@router.get("/identity/v3/auth/tokens")
async def validate_token(request: Request) -> object:
    count(request)
    cloud = cloud_of(request)
    subject = request.headers.get("x-subject-token")
    if request.headers.get("x-auth-token") not in cloud.tokens or subject not in cloud.tokens:
        return (
            _unauthorized()
            if subject in cloud.tokens
            else JSONResponse(
                {"error": {"code": 404, "title": "Not Found", "message": "Could not find token."}},
                status_code=404,
            )
        )
    user = MEMBER_USER if subject in cloud.member_tokens else ADMIN_USER
    return JSONResponse(
        token_body(cloud, base_url(request), datetime.now(UTC), user),
        headers={"X-Subject-Token": subject or ""},
    )


@router.get("/identity/v3/projects")
async def list_projects(request: Request) -> object:
    count(request)
    cloud = cloud_of(request)
    if request.headers.get("x-auth-token") not in cloud.tokens:
        return _unauthorized()
    name = request.query_params.get("name")
    projects = [
        {
            "id": pid,
            "name": pname,
            "domain_id": "default",
            "enabled": True,
            "is_domain": False,
            "parent_id": "default",
            "description": "",
            "tags": [],
            "links": {},
        }
        for pname, pid in cloud.projects.items()
        if name in (None, pname)
    ]
    return JSONResponse({"projects": projects, "links": {"next": None, "previous": None}})
