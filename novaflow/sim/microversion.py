"""Microversion negotiation for compute and placement, from the two request header forms."""

from __future__ import annotations

from collections.abc import Mapping

from novaflow.sim.errors import NovaError

Version = tuple[int, int]

COMPUTE_MIN: Version = (2, 1)
COMPUTE_MAX: Version = (2, 104)
PLACEMENT_MIN: Version = (1, 0)
PLACEMENT_MAX: Version = (1, 39)


def fmt(v: Version) -> str:
    return f"{v[0]}.{v[1]}"


def _parse(text: str, lo: Version, hi: Version) -> Version:
    text = text.strip()
    if text.lower() == "latest":
        return hi
    try:
        major, minor = (int(p) for p in text.split("."))
    except ValueError:
        raise NovaError(
            400,
            f"API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum.",
        ) from None
    v = (major, minor)
    if not lo <= v <= hi:
        raise NovaError(
            406,
            f"Version {text} is not supported by the API. Minimum is {fmt(lo)} and "
            f"maximum is {fmt(hi)}.",
        )
    return v


def parse_cap(text: str | None) -> Version:
    """The compute maximum a sim advertises: `text` ("2.55") or, when None, COMPUTE_MAX."""
    if text is None:
        return COMPUTE_MAX
    major, _, minor = str(text).strip().partition(".")
    try:
        cap = (int(major), int(minor))
    except ValueError:
        raise ValueError(f"max microversion {text!r} is not of the form 2.N") from None
    if not COMPUTE_MIN <= cap <= COMPUTE_MAX:
        raise ValueError(
            f"max microversion {text} is outside {fmt(COMPUTE_MIN)}-{fmt(COMPUTE_MAX)}"
        )
    return cap


def requested(
    headers: Mapping[str, str], service: str, compute_max: Version = COMPUTE_MAX
) -> Version:
    """The version a request asks for (the service minimum when it asks for none).

    `compute_max` is the sim's advertised maximum (an older Nova when capped below COMPUTE_MAX).
    """
    lo, hi = (COMPUTE_MIN, compute_max) if service == "compute" else (PLACEMENT_MIN, PLACEMENT_MAX)
    generic = headers.get("openstack-api-version")
    if generic:
        for part in generic.split(","):
            name, _, value = part.strip().partition(" ")
            if name.lower() == service and value:
                return _parse(value, lo, hi)
    if service == "compute":
        legacy = headers.get("x-openstack-nova-api-version")
        if legacy:
            return _parse(legacy, lo, hi)
    return lo


def response_headers(service: str, v: Version) -> dict[str, str]:
    headers = {"OpenStack-API-Version": f"{service} {fmt(v)}"}
    if service == "compute":
        headers["X-OpenStack-Nova-API-Version"] = fmt(v)
        headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    else:
        headers["Vary"] = "OpenStack-API-Version"
    return headers
