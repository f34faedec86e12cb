"""Where a campaign's time goes: each host's phases, read off the simulated cloud as it runs.

A thread polls the served sim's `GET /sim/summary?brief=true` (every host's service status
and state, its instance count, and the sim's clock) while the campaign runs. From those
samples each host gets, in simulated seconds:

* `start`: its compute service disabled (the campaign took it);
* `empty`: no instance left on it (its drain is over);
* `down` / `up`: its compute service went down for the work and came back;
* `end`: enabled again (or the last sample, for a host left disabled).

Nothing here asks novaflow: the phases are what an operator watching `openstack compute
service list` would see, so they also show the flow's own time between the cloud's steps
(drain over -> work started, service back -> enabled), which no lower bound counts.
The sample interval bounds each figure's precision; the reading states it.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.sampling import Every

PLOT = Path(__file__).with_name("campaign-timeline.png")
PHASES = ("drain", "to work", "work", "to enabled")


@dataclass
class HostPhases:
    host: str
    start: float | None = None
    empty: float | None = None
    down: float | None = None
    up: float | None = None
    end: float | None = None

    def spans(self) -> dict[str, float]:
        """Seconds in each phase (those the host went through)."""
        marks = [("drain", self.start, self.empty), ("to work", self.empty, self.down)]
        marks += [("work", self.down, self.up), ("to enabled", self.up, self.end)]
        return {n: b - a for n, a, b in marks if a is not None and b is not None and b >= a}


class Sampler(Every):
    """Polls the sim's brief summary from a thread until stopped."""

    def __init__(self, url: str, every_s: float) -> None:
        super().__init__(every_s, "campaign-timeline")
        self.url = f"{url}/sim/summary?brief=true"
        self.client = httpx.Client(timeout=30)
        self.samples: list[tuple[float, dict[str, tuple[str, str, int]]]] = []

    def sample(self) -> None:
        body = self.client.get(self.url).raise_for_status().json()
        hosts = {
            h: (v["status"], v["state"], int(v["instances"])) for h, v in body["hosts"].items()
        }
        self.samples.append((float(body["now"]), hosts))

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.client.close()


def phases(
    samples: list[tuple[float, dict[str, tuple[str, str, int]]]], since: float
) -> list[HostPhases]:
    """Each host's phase marks, in simulated seconds from `since` (the approval)."""
    found: dict[str, HostPhases] = {}
    for now, hosts in samples:
        t = now - since
        for host, (status, state, count) in hosts.items():
            p = found.setdefault(host, HostPhases(host))
            if p.start is None:
                if status == "disabled":
                    p.start = t
                else:
                    continue
            if p.empty is None and count == 0:
                p.empty = t
            if p.empty is not None and p.down is None and state == "down":
                p.down = t
            if p.down is not None and p.up is None and state == "up":
                p.up = t
            if p.end is None and status == "enabled":
                p.end = t
    last = samples[-1][0] - since if samples else 0.0
    for p in found.values():
        if p.start is not None and p.end is None:
            p.end = last
    return sorted((p for p in found.values() if p.start is not None), key=lambda p: p.start)


def breakdown(found: list[HostPhases], wall: float) -> dict[str, Any]:
    """Mean seconds per host in each phase, and hosts out of service at once on average."""
    sums = dict.fromkeys(PHASES, 0.0)
    counts = dict.fromkeys(PHASES, 0)
    out = 0.0
    for p in found:
        for name, s in p.spans().items():
            sums[name] += s
            counts[name] += 1
        if p.start is not None and p.end is not None:
            out += p.end - p.start
    return {
        "mean_s": {n: sums[n] / counts[n] if counts[n] else 0.0 for n in PHASES},
        "hosts_out": out / wall if wall else 0.0,
        "hosts": len(found),
    }


def describe(b: dict[str, Any], every_s_sim: float, parallel: int) -> str:
    """One sentence for the reading."""
    m = b["mean_s"]
    return (
        f"Per host, read off the sim every ~{every_s_sim:.0f} simulated s: drain "
        f"{m['drain']:.0f} s, drain over -> work started {m['to work']:.0f} s, work "
        f"{m['work']:.0f} s, service back -> enabled {m['to enabled']:.0f} s; on average "
        f"{b['hosts_out']:.1f} hosts were out of service at once ({parallel} in flight allowed; "
        f"hosts that failed stay disabled to the end and count too)."
    )


def save(found: list[HostPhases], path: Path) -> None:
    path.write_text(json.dumps([asdict(p) for p in found]))


def plot(found: list[HostPhases], title: str, python: Path) -> str:
    """Draw the timeline to PLOT with the benchmark venv's matplotlib (novaflow does not
    depend on it); returns what went wrong, or ''."""
    if not python.exists():
        return f"no {python}: run `make bench-env` to draw {PLOT.name}"
    data = PLOT.with_suffix(".json")
    save(found, data)
    done = subprocess.run(
        [str(python), "-m", "bench.timeline_plot", str(data), str(PLOT), title],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    data.unlink(missing_ok=True)
    return "" if done.returncode == 0 else done.stderr.strip().splitlines()[-1]
