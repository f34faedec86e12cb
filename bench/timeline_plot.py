"""Draw a campaign's timeline: one row per host, its phases as coloured bars.

    .venv-bench/bin/python -m bench.timeline_plot phases.json campaign-timeline.png TITLE

Runs in .venv-bench, which has matplotlib (novaflow does not depend on it); the phases come
from bench/campaign_timeline.py as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLOURS = {
    "drain": "#4c78a8",
    "to work": "#e45756",
    "work": "#f2a541",
    "to enabled": "#b279a2",
}


def spans(p: dict) -> list[tuple[str, float, float]]:
    marks = [
        ("drain", p["start"], p["empty"]),
        ("to work", p["empty"], p["down"]),
        ("work", p["down"], p["up"]),
        ("to enabled", p["up"], p["end"]),
    ]
    return [(n, a, b - a) for n, a, b in marks if a is not None and b is not None and b >= a]


def draw(hosts: list[dict], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = min(12.0, max(3.5, 1.5 + 0.06 * len(hosts)))
    fig, ax = plt.subplots(figsize=(10, height))
    for row, p in enumerate(hosts):
        for name, start, width in spans(p):
            ax.broken_barh([(start / 3600, width / 3600)], (row - 0.4, 0.8), color=COLOURS[name])
    for name, colour in COLOURS.items():
        ax.plot([], [], color=colour, lw=6, label=name)
    ax.set_ylim(len(hosts) - 0.5, -0.5)
    ax.set_yticks([])
    ax.set_ylabel(f"{len(hosts)} hosts (order taken)")
    ax.set_xlabel("hours since the approval (simulated)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), sys.argv[3])
