"""Tables the way the openstack CLI prints them: `-f table|json|value|yaml` and `-c COLUMN`.

A command builds its rows once (column name -> text); this module picks the columns the
operator asked for and writes them in the chosen format. Off a terminal, tables are printed
at full width, so a cell piped to a file is never cut to `sim-com…`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

WIDE = 4000
"""Console width off a terminal: wide enough that no cell of a report is ever cut."""


class Format(StrEnum):
    table = "table"
    json = "json"
    value = "value"
    yaml = "yaml"


class UnknownColumn(ValueError):
    """A -c COLUMN that the table does not have."""


def console(stderr: bool = False) -> Console:
    """A console that wraps to the terminal, or never cuts when writing to a file or pipe."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=WIDE, soft_wrap=True)


def pick(columns: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """The columns asked for with -c, in the order asked (all of them without -c)."""
    if not wanted:
        return list(columns)
    unknown = [c for c in wanted if c not in columns]
    if unknown:
        raise UnknownColumn(
            f"no column {', '.join(map(repr, unknown))}; the columns are: {', '.join(columns)}"
        )
    return list(wanted)


def _yaml(rows: list[dict[str, Any]]) -> str:
    import yaml  # PyYAML comes with openstacksdk

    return yaml.safe_dump(rows, sort_keys=False, allow_unicode=True, width=10_000)


def write_rows(
    columns: Sequence[str],
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    wanted: Sequence[str] = (),
    *,
    title: str | None = None,
    out: Console | None = None,
) -> None:
    """Write `rows` (column -> value) in `fmt`, keeping only the `wanted` columns."""
    cols = pick(columns, wanted)
    kept = [{c: row.get(c, "") for c in cols} for row in rows]
    if fmt is Format.json:
        sys.stdout.write(json.dumps(kept, indent=1, default=str) + "\n")
    elif fmt is Format.yaml:
        sys.stdout.write(_yaml(kept))
    elif fmt is Format.value:
        for row in kept:
            sys.stdout.write(" ".join(str(row[c]) for c in cols) + "\n")
    else:
        table = Table(title=title)
        for c in cols:
            table.add_column(c, overflow="fold")
        for row in kept:
            table.add_row(*(str(row[c]) for c in cols))
        (out or console()).print(table)
