"""Placement over HTTP, as the real service answers: providers (compute nodes and their nested
children), inventories, usages, traits, allocations and allocation candidates.

Microversions follow the `OpenStack-API-Version: placement X.Y` header: a query parameter
newer than the requested version is refused with 400, and bodies gain the fields their version
added (parent/root providers 1.14, traits in summaries 1.17, consumer generation 1.28, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import APIRouter, Depends, Request

from novaflow.sim import placement
from novaflow.sim.api.deps import api_guard, cloud_of, mv, ok
from novaflow.sim.errors import NovaError
from novaflow.sim.microversion import Version
from novaflow.sim.model import Consumer, Inventory, Provider
from novaflow.sim.state import SimCloud

router = APIRouter(prefix="/placement", dependencies=[Depends(api_guard)])

_TITLES = {400: "Bad Request", 404: "Not Found"}


class PlacementError(NovaError):
    """Placement's error body: {"errors": [{"status", "title", "detail", "code"}]}."""

    def body(self) -> dict[str, object]:
        return {
            "errors": [
                {
                    "status": self.code,
                    "title": _TITLES.get(self.code, "Error"),
                    "detail": self.message,
                    "code": "placement.undefined_code",
                }
            ]
        }


# Query parameters each listing accepts, with the microversion that added them.
_PROVIDER_PARAMS = {
    "name": (1, 0),
    "uuid": (1, 0),
    "member_of": (1, 3),
    "resources": (1, 4),
    "in_tree": (1, 14),
    "required": (1, 18),
}
_CANDIDATE_PARAMS = {
    "resources": (1, 10),
    "limit": (1, 16),
    "required": (1, 17),
    "member_of": (1, 21),
    "in_tree": (1, 31),
}


def _check_params(request: Request, allowed: dict[str, Version]) -> None:
    v = mv(request)
    bad = sorted(k for k in request.query_params if k not in allowed or v < allowed[k])
    if bad:
        raise PlacementError(
            400,
            "Invalid query string parameters: Additional properties are not allowed "
            f"({', '.join(repr(b) for b in bad)} {'was' if len(bad) == 1 else 'were'} "
            "unexpected)",
        )


def _provider(cloud: SimCloud, p: Provider, v: Version) -> dict[str, object]:
    href = f"/resource_providers/{p.uuid}"
    links = [
        {"rel": "self", "href": href},
        {"rel": "inventories", "href": f"{href}/inventories"},
        {"rel": "usages", "href": f"{href}/usages"},
    ]
    if v >= (1, 1):
        links.append({"rel": "aggregates", "href": f"{href}/aggregates"})
    if v >= (1, 6):
        links.append({"rel": "traits", "href": f"{href}/traits"})
    if v >= (1, 11):
        links.append({"rel": "allocations", "href": f"{href}/allocations"})
    body: dict[str, object] = {
        "uuid": p.uuid,
        "name": p.name,
        "generation": p.generation,
        "links": links,
    }
    if v >= (1, 14):
        body["parent_provider_uuid"] = p.parent_uuid
        body["root_provider_uuid"] = p.root_uuid
    return body


def _get(cloud: SimCloud, rp_uuid: str) -> Provider:
    p = cloud.providers.get(rp_uuid)
    if p is None:
        raise PlacementError(404, f"No resource provider with uuid {rp_uuid} found")
    return p


def _resources(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(","):
        rc, _, amount = part.strip().partition(":")
        try:
            out[rc] = int(amount)
        except ValueError:
            raise PlacementError(
                400,
                f"Badly formed resources parameter. Expected resources query string "
                f"parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {text}.",
            ) from None
        if out[rc] < 1:
            raise PlacementError(400, f"Requested resource {rc} expected positive integer amount.")
    return out


def _trait_filter(values: Iterable[str], v: Version) -> Callable[[set[str]], bool]:
    """`required=A,!B`: every named trait present, every forbidden one (1.22) absent;
    `required=in:A,B` (1.39): at least one of them, each such parameter on its own."""
    want: set[str] = set()
    forbid: set[str] = set()
    any_of: list[set[str]] = []
    for value in values:
        if value.startswith("in:") and v >= (1, 39):
            any_of.append({t.strip() for t in value[3:].split(",") if t.strip()})
            continue
        for t in value.split(","):
            t = t.strip()
            if t.startswith("!") and v >= (1, 22):
                forbid.add(t[1:])
            elif t:
                want.add(t)
    return lambda have: (
        want <= have and not (forbid & have) and all(group & have for group in any_of)
    )


def _aggregates_of(cloud: SimCloud, p: Provider) -> set[str]:
    """Nova mirrors host aggregates into Placement; children share their root's."""
    return {a.uuid for a in cloud.aggregates.values() if p.host in a.hosts}


def _member_filter(values: list[str]) -> Callable[[set[str]], bool]:
    """`member_of=in:A,B` (any of), repeated for all-of (1.24), `!` to exclude (1.32)."""
    rules: list[tuple[bool, set[str]]] = []
    for value in values:
        negate = value.startswith("!")
        value = value.lstrip("!")
        value = value[3:] if value.startswith("in:") else value
        rules.append((negate, {u for u in value.split(",") if u}))
    return lambda have: all(bool(have & uuids) != negate for negate, uuids in rules)


def _has_room(cloud: SimCloud, p: Provider, wanted: dict[str, int]) -> bool:
    for rc, amount in wanted.items():
        inv = p.inventories.get(rc)
        if inv is None or not placement.unit_ok(inv, amount):
            return False
        if amount > placement.free(cloud, p, rc):
            return False
    return True


@router.get("/resource_providers")
async def list_providers(request: Request) -> object:
    _check_params(request, _PROVIDER_PARAMS)
    q = request.query_params
    v = mv(request)
    cloud = cloud_of(request)
    with cloud.lock:
        found = sorted(cloud.providers.values(), key=lambda p: p.name)
        if "name" in q:
            found = [p for p in found if p.name == q["name"]]
        if "uuid" in q:
            found = [p for p in found if p.uuid == q["uuid"]]
        if "in_tree" in q:
            root = _get(cloud, q["in_tree"]).root_uuid
            found = [p for p in found if p.root_uuid == root]
        if "member_of" in q:
            member = _member_filter(q.getlist("member_of"))
            found = [p for p in found if member(_aggregates_of(cloud, p))]
        if "resources" in q:
            wanted = _resources(q["resources"])
            found = [p for p in found if _has_room(cloud, p, wanted)]
        if "required" in q:
            keep = _trait_filter(q.getlist("required"), v)
            found = [p for p in found if keep(placement.traits(cloud, p))]
        return ok({"resource_providers": [_provider(cloud, p, v) for p in found]})


@router.get("/resource_providers/{rp_uuid}")
async def show_provider(request: Request, rp_uuid: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        return ok(_provider(cloud, _get(cloud, rp_uuid), mv(request)))


def _inventory(inv: Inventory) -> dict[str, object]:
    return {
        "total": inv.total,
        "reserved": inv.reserved,
        "min_unit": inv.min_unit,
        "max_unit": inv.max_unit or inv.total,
        "step_size": inv.step_size,
        "allocation_ratio": inv.allocation_ratio,
    }


@router.get("/resource_providers/{rp_uuid}/inventories")
async def inventories(request: Request, rp_uuid: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        p = _get(cloud, rp_uuid)
        return ok(
            {
                "resource_provider_generation": p.generation,
                "inventories": {rc: _inventory(inv) for rc, inv in p.inventories.items()},
            }
        )


@router.get("/resource_providers/{rp_uuid}/inventories/{rc}")
async def inventory(request: Request, rp_uuid: str, rc: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        p = _get(cloud, rp_uuid)
        if rc not in p.inventories:
            raise PlacementError(
                404, f"No inventory of class {rc} found for resource provider {rp_uuid}"
            )
        return ok({"resource_provider_generation": p.generation, **_inventory(p.inventories[rc])})


@router.get("/resource_providers/{rp_uuid}/usages")
async def usages(request: Request, rp_uuid: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        p = _get(cloud, rp_uuid)
        used = cloud.used.get(p.uuid, {})
        return ok(
            {
                "resource_provider_generation": p.generation,
                "usages": {rc: used.get(rc, 0) for rc in p.inventories},
            }
        )


@router.get("/resource_providers/{rp_uuid}/traits")
async def provider_traits(request: Request, rp_uuid: str) -> object:
    if mv(request) < (1, 6):
        raise PlacementError(404, "The resource could not be found.")
    cloud = cloud_of(request)
    with cloud.lock:
        p = _get(cloud, rp_uuid)
        return ok(
            {
                "resource_provider_generation": p.generation,
                "traits": sorted(placement.traits(cloud, p)),
            }
        )


@router.get("/resource_providers/{rp_uuid}/aggregates")
async def provider_aggregates(request: Request, rp_uuid: str) -> object:
    v = mv(request)
    if v < (1, 1):
        raise PlacementError(404, "The resource could not be found.")
    cloud = cloud_of(request)
    with cloud.lock:
        p = _get(cloud, rp_uuid)
        body: dict[str, object] = {"aggregates": sorted(_aggregates_of(cloud, p))}
        if v >= (1, 19):
            body["resource_provider_generation"] = p.generation
        return ok(body)


@router.get("/resource_providers/{rp_uuid}/allocations")
async def provider_allocations(request: Request, rp_uuid: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        p = _get(cloud, rp_uuid)
        held = {
            c.uuid: {"resources": dict(c.allocations[p.uuid])}
            for c in cloud.consumers.values()
            if p.uuid in c.allocations
        }
        return ok({"resource_provider_generation": p.generation, "allocations": held})


@router.get("/allocations/{consumer_uuid}")
async def consumer_allocations(request: Request, consumer_uuid: str) -> object:
    v = mv(request)
    cloud = cloud_of(request)
    with cloud.lock:
        c = cloud.consumers.get(consumer_uuid)
        body: dict[str, object] = {
            "allocations": {
                rp: {"generation": cloud.providers[rp].generation, "resources": dict(res)}
                for rp, res in (c.allocations.items() if c else [])
                if rp in cloud.providers
            }
        }
        if c is not None and v >= (1, 12):
            body["project_id"] = c.project_id
            body["user_id"] = c.user_id
        if c is not None and v >= (1, 28):
            body["consumer_generation"] = c.generation
        if c is not None and v >= (1, 38):
            body["consumer_type"] = c.consumer_type
        return ok(body)


def _total(consumers: list[Consumer]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in consumers:
        for res in c.allocations.values():
            for rc, n in res.items():
                out[rc] = out.get(rc, 0) + n
    return out


@router.get("/usages")
async def project_usages(request: Request) -> object:
    v = mv(request)
    if v < (1, 9):
        raise PlacementError(404, "The resource could not be found.")
    q = request.query_params
    allowed = {"project_id": (1, 9), "user_id": (1, 9), "consumer_type": (1, 38)}
    _check_params(request, allowed)
    if "project_id" not in q:
        raise PlacementError(
            400, "Invalid query string parameters: 'project_id' is a required property"
        )
    cloud = cloud_of(request)
    with cloud.lock:
        mine = [
            c
            for c in cloud.consumers.values()
            if c.project_id == q["project_id"] and q.get("user_id", c.user_id) == c.user_id
        ]
        wanted = q.get("consumer_type")
        if v < (1, 38):
            return ok({"usages": _total(mine)})
        # 1.38: grouped by consumer type; `all` sums every consumer under one key.
        if wanted == "all":
            return ok({"usages": {"all": {"consumer_count": len(mine), **_total(mine)}}})
        if wanted:
            mine = [c for c in mine if c.consumer_type == wanted]
        grouped: dict[str, object] = {}
        for ctype in sorted({c.consumer_type for c in mine}):
            of_type = [c for c in mine if c.consumer_type == ctype]
            grouped[ctype] = {"consumer_count": len(of_type), **_total(of_type)}
        return ok({"usages": grouped})


def _summary(
    cloud: SimCloud, p: Provider, v: Version, requested: dict[str, int]
) -> dict[str, object]:
    """A provider summary: every class from 1.27, only the requested ones before."""
    used = cloud.used.get(p.uuid, {})
    body: dict[str, object] = {
        "resources": {
            rc: {"capacity": int(inv.capacity), "used": used.get(rc, 0)}
            for rc, inv in p.inventories.items()
            if v >= (1, 27) or rc in requested
        }
    }
    if v >= (1, 17):
        body["traits"] = sorted(placement.traits(cloud, p))
    if v >= (1, 29):
        body["parent_provider_uuid"] = p.parent_uuid
        body["root_provider_uuid"] = p.root_uuid
    return body


@router.get("/allocation_candidates")
async def allocation_candidates(request: Request) -> object:
    v = mv(request)
    if v < (1, 10):
        raise PlacementError(404, "The resource could not be found.")
    _check_params(request, _CANDIDATE_PARAMS)
    q = request.query_params
    if "resources" not in q:
        raise PlacementError(
            400, "Invalid query string parameters: 'resources' is a required property"
        )
    wanted = _resources(q["resources"])
    limit = int(q["limit"]) if "limit" in q and q["limit"].isdigit() else None
    cloud = cloud_of(request)
    with cloud.lock:
        keep = _trait_filter(q.getlist("required"), v) if "required" in q else None
        member = _member_filter(q.getlist("member_of")) if "member_of" in q else None
        in_tree = _get(cloud, q["in_tree"]).root_uuid if "in_tree" in q else None
        requests: list[placement.Allocations] = []
        for name in sorted(cloud.hosts):
            h = cloud.hosts[name]
            root = cloud.providers[h.hypervisor_uuid]
            if in_tree and root.uuid != in_tree:
                continue
            if keep and not keep(placement.traits(cloud, root)):
                continue
            if member and not member(_aggregates_of(cloud, root)):
                continue
            allocs = placement.fit(cloud, name, wanted)
            if allocs is not None:
                requests.append(allocs)
            if limit is not None and len(requests) >= limit:
                break
        # Summaries cover every provider of each candidate's tree (1.29 nested shape).
        roots = {cloud.providers[rp].root_uuid for allocs in requests for rp in allocs}
        summaries = {
            p.uuid: _summary(cloud, p, v, wanted)
            for p in cloud.providers.values()
            if p.root_uuid in roots
        }
        if v >= (1, 12):
            shaped: list[object] = [
                {"allocations": {rp: {"resources": res} for rp, res in allocs.items()}}
                for allocs in requests
            ]
        else:
            shaped = [
                {
                    "allocations": [
                        {"resource_provider": {"uuid": rp}, "resources": res}
                        for rp, res in allocs.items()
                    ]
                }
                for allocs in requests
            ]
        return ok({"allocation_requests": shaped, "provider_summaries": summaries})
