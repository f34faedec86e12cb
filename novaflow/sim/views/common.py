"""Timestamp formats and links shared by the views."""

from __future__ import annotations

from novaflow.sim.state import SimCloud


def iso_z(cloud: SimCloud, t: float | None) -> str | None:
    """Server-style timestamps: 2024-01-01T00:00:00Z."""
    return None if t is None else cloud.time(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_us(cloud: SimCloud, t: float | None) -> str | None:
    """Migration/service-style timestamps: 2024-01-01T00:00:00.000000."""
    return None if t is None else cloud.time(t).strftime("%Y-%m-%dT%H:%M:%S.%f")


def links(base: str, kind: str, ident: str) -> list[dict[str, str]]:
    """Self and bookmark links; `base` is the compute endpoint ending in /v2.1."""
    bookmark = base.rsplit("/v2.1", 1)[0]
    return [
        {"rel": "self", "href": f"{base}/{kind}/{ident}"},
        {"rel": "bookmark", "href": f"{bookmark}/{kind}/{ident}"},
    ]
