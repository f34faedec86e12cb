"""Parsing the ISO 8601 times clients send in filters (naive times are UTC, as in Nova)."""

from __future__ import annotations

from datetime import UTC, datetime

from novaflow.sim.errors import bad_request


def parse_filter_time(value: str, name: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"Invalid filter field: {name}. Value: {value}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
