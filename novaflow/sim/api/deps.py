"""What every API route shares: the cloud, auth, fault injection, microversions, counting."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from novaflow.sim import microversion
from novaflow.sim.api.queries import check_query
from novaflow.sim.errors import NovaError, not_found
from novaflow.sim.model import Instance
from novaflow.sim.state import ADMIN_USER, SimCloud, stable_id

# A non-admin user (role member in project demo), same password as admin: the cloud
# `sim-member` in the sim's clouds.yaml.
MEMBER_USER = "member"
MEMBER_PROJECT = "demo"
UNAUTHORIZED = {
    "error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}


class Unauthorized(NovaError):
    def __init__(self) -> None:
        super().__init__(401, UNAUTHORIZED["error"]["message"])  # type: ignore[index]

    def body(self) -> dict[str, object]:
        return UNAUTHORIZED


def cloud_of(request: Request) -> SimCloud:
    return request.app.state.cloud  # type: ignore[no-any-return]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def compute_base(request: Request) -> str:
    return f"{base_url(request)}/compute/v2.1"


def mv(request: Request) -> microversion.Version:
    return request.state.microversion  # type: ignore[no-any-return]


def route_key(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    return f"{request.method} {path}"


def count(request: Request) -> None:
    cloud = cloud_of(request)
    key = route_key(request)
    with cloud.lock:
        cloud.requests[key] += 1
    for hook in list(cloud.request_hooks):
        hook(key)


async def api_guard(request: Request) -> None:
    """Runs before each cloud API route: count, fault-inject, authenticate, negotiate, tick."""
    cloud = cloud_of(request)
    count(request)
    plan = cloud.faults.plan
    if plan.latency_ms:
        await asyncio.sleep(plan.latency_ms / 1000)
    with cloud.lock:
        if cloud.faults.unavailable():
            cloud.injected_errors += 1
            raise NovaError(503, "The server is currently unavailable. Please try again later.")
        if request.headers.get("x-auth-token") not in cloud.tokens:
            raise Unauthorized()
    path = request.url.path
    if path.startswith("/compute"):
        service = "compute"
    elif path.startswith("/placement"):
        service = "placement"
    else:
        service = ""
    if service:
        request.state.microversion_service = service
        request.state.microversion = microversion.requested(
            request.headers, service, cloud.compute_max
        )
    if service == "compute" and request.method == "GET" and request.query_params:
        route = getattr(request.scope.get("route"), "path", "")
        check_query(route, request.query_params.keys(), request.state.microversion)
    with cloud.lock:
        cloud.advance()


def is_member(request: Request) -> bool:
    """The caller is the non-admin `member` user (its token holds no admin role)."""
    return request.headers.get("x-auth-token") in cloud_of(request).member_tokens


def authorize(request: Request, rule: str) -> None:
    """Nova's default policy for an admin API: 403 with the rule's name to a non-admin."""
    if is_member(request):
        raise NovaError(403, f"Policy doesn't allow {rule} to be performed.")


def caller(request: Request) -> tuple[str, str]:
    """(project id, user id) of whoever made the request: admin's, or the member's."""
    cloud = cloud_of(request)
    if is_member(request):
        return cloud.project_id(MEMBER_PROJECT), stable_id("user", MEMBER_USER)
    return cloud.projects["admin"], cloud.users[ADMIN_USER]


def instance_of(request: Request, server_id: str) -> Instance:
    """The server `server_id` as the caller may see it: a non-admin finds only its own
    project's servers (another's answers 404, as Nova's database lookup does)."""
    cloud = cloud_of(request)
    inst = cloud.instance(server_id)
    if is_member(request) and inst.project_id != caller(request)[0]:
        raise not_found(f"Instance {server_id} could not be found.")
    return inst


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise NovaError(400, "Malformed request body") from None
    if not isinstance(data, dict):
        raise NovaError(400, "Malformed request body")
    return data


def ok(body: object, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def empty(status: int) -> Response:
    return Response(status_code=status)


def query_bool(value: str | None, name: str) -> bool:
    if value is None:
        return False
    v = value.strip().lower()
    if v in ("", "1", "true", "t", "yes", "y", "on"):
        return True
    if v in ("0", "false", "f", "no", "n", "off"):
        return False
    raise NovaError(400, f"Invalid value '{value}' for {name}")


def query_int(value: str | None, name: str, minimum: int = 0) -> int | None:
    if value is None:
        return None
    try:
        n = int(value)
    except ValueError:
        raise NovaError(400, f"{name} param must be an integer") from None
    if n < minimum:
        raise NovaError(400, f"{name} param must be positive")
    return n
