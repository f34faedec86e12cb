"""One Markdown table format for every benchmark's rows (bench/RESULTS.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Column = tuple[str, str, str]  # row key, header, format


def markdown(
    columns: Sequence[Column],
    rows: list[dict[str, Any]],
    cell: Callable[[dict[str, Any], str, str], str] = lambda r, k, f: f.format(r[k]),
) -> str:
    """The rows as a right-aligned Markdown table."""
    head = "| " + " | ".join(c[1] for c in columns) + " |"
    sep = "|" + "---:|" * len(columns)
    body = ["| " + " | ".join(cell(r, k, f) for k, _, f in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body]) + "\n"
