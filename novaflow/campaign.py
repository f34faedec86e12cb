"""A maintenance campaign's bookkeeping: each host's state, which host goes next, where
drained instances should land, and which instances had to move more than once.

Pure: the rolling flow keeps these records in Prefect (tasks/campaign_state.py) and asks
this module what to do; nothing here talks to the cloud or to Prefect.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from novaflow.models import Outcome, Resources, Snapshot

HostState = Literal["pending", "draining", "working", "checking", "done", "failed", "skipped"]
"""pending: not started; draining: instances moving off; working: the work step runs;
checking: proving it is back in service; done: worked on (or the skip check said so) and
back in service; failed: left disabled, with the reason; skipped: left untouched this run
(its instances had nowhere to go), tried again like a pending host."""

INTERRUPTED: tuple[HostState, ...] = ("draining", "working", "checking")
"""States a host is left in only when a run ended in the middle of it (the window closed
while it drained, or the run crashed): such a host resumes first."""

OUTPUT_KEPT = 1000
"""Characters of a failed work step's output kept in the host's record (its tail: where a
failing command says why). The record of every host is rewritten on each change, so it
stays small: a thousand-host campaign is one Variable."""


def now() -> datetime:
    return datetime.now(UTC)


class HostRecord(BaseModel):
    """What the campaign knows about one host, kept between runs."""

    host: str
    state: HostState = "pending"
    since: datetime = Field(default_factory=now)
    note: str = ""
    output: str = Field(
        "", description="Tail of the work step's output, kept when the host failed."
    )
    enabled_before: bool | None = Field(
        None, description="Its compute service was enabled when the campaign first took it."
    )
    moves: int = Field(0, description="Instances the campaign moved off it, over all runs.")

    def to(self, state: HostState, note: str = "") -> HostRecord:
        """This record in `state` from now on, with `note` saying why."""
        return self.model_copy(update={"state": state, "since": now(), "note": note})


class Campaign(BaseModel):
    """Every host of one named campaign, in the order they were first selected."""

    campaign: str
    hosts: list[HostRecord] = Field(default_factory=list)

    def record(self, host: str) -> HostRecord:
        for r in self.hosts:
            if r.host == host:
                return r
        raise KeyError(host)

    def put(self, record: HostRecord) -> None:
        self.hosts = [record if r.host == record.host else r for r in self.hosts]
        if all(r.host != record.host for r in self.hosts):
            self.hosts.append(record)

    def include(self, hosts: Iterable[str]) -> None:
        """Add hosts the campaign has not seen yet as pending (a zone can grow between runs)."""
        known = {r.host for r in self.hosts}
        self.hosts.extend(HostRecord(host=h) for h in hosts if h not in known)

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.state for r in self.hosts))

    def in_state(self, *states: HostState) -> list[str]:
        return [r.host for r in self.hosts if r.state in states]


def hosts_to_do(
    campaign: Campaign,
    selected: list[str],
    instances_on: Mapping[str, int],
    *,
    retry_failed: bool = False,
) -> list[str]:
    """The selected hosts still to do, in the order they should start.

    Hosts a previous run left half-way come first (they are disabled and maybe half empty);
    then empty hosts, whose work needs no drain and which become targets for the rest; then
    the others, fewest instances first, so done hosts pile up early as drain targets.
    Done hosts are left out, and failed ones unless `retry_failed`.
    """
    wanted: list[str] = []
    for host in selected:
        state = campaign.record(host).state
        if state == "done" or (state == "failed" and not retry_failed):
            continue
        wanted.append(host)

    def key(host: str) -> tuple[int, int, str]:
        interrupted = campaign.record(host).state in INTERRUPTED
        return (0 if interrupted else 1, instances_on.get(host, 0), host)

    return sorted(wanted, key=key)


def drain_targets(campaign: Campaign, selected: list[str]) -> tuple[list[str], list[str]]:
    """(preferred, last resort) targets for a drain, so each instance moves once.

    Hosts already done in this campaign are preferred: nothing will drain them again. Hosts
    outside the campaign come next (the planner's default). Hosts still to do are used only
    when nothing else fits, since an instance put there moves again when their turn comes.
    """
    chosen = set(selected)
    done = [r.host for r in campaign.hosts if r.host in chosen and r.state == "done"]
    to_do = [r.host for r in campaign.hosts if r.host in chosen and r.state != "done"]
    return done, to_do


def may_start(
    host: str,
    in_flight: Iterable[str],
    zone_of: Mapping[str, str],
    aggregates_of: Mapping[str, list[str]],
    *,
    max_per_zone: int | None = None,
    max_per_aggregate: int | None = None,
) -> str | None:
    """None when `host` may start beside `in_flight`, else why not (which limit is full)."""
    busy = list(in_flight)
    if max_per_zone is not None:
        zone = zone_of.get(host)
        n = sum(1 for h in busy if zone_of.get(h) == zone)
        if n >= max_per_zone:
            return f"zone {zone} already has {n} host(s) in maintenance (max_per_zone)"
    if max_per_aggregate is not None:
        for agg in aggregates_of.get(host, []):
            n = sum(1 for h in busy if agg in aggregates_of.get(h, []))
            if n >= max_per_aggregate:
                return f"aggregate {agg} already has {n} host(s) in maintenance (max_per_aggregate)"
    return None


def moved_more_than_once(outcomes: Iterable[Outcome]) -> dict[str, list[str]]:
    """Instances this run moved more than once: name -> the hosts it left, in order."""
    left: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for o in outcomes:
        if o.result == "moved":
            left.setdefault(o.instance_id, []).append(o.source or "?")
            names[o.instance_id] = o.instance_name
    return {names[i]: hosts for i, hosts in left.items() if len(hosts) > 1}


def repeat_moves_note(outcomes: Iterable[Outcome]) -> str:
    """The report's line on instances moved more than once, with the reason."""
    twice = moved_more_than_once(outcomes)
    if not twice:
        return "every instance moved at most once"
    shown = "; ".join(
        f"{name} (left {' then '.join(hosts)})" for name, hosts in sorted(twice.items())[:10]
    )
    more = f" and {len(twice) - 10} more" if len(twice) > 10 else ""
    return (
        f"{len(twice)} instance(s) moved more than once: {shown}{more}. Each landed on a host "
        "still to do because no host already done and no host outside the campaign had room "
        "for it then"
    )


def tail(text: str, keep: int = OUTPUT_KEPT) -> str:
    return text if len(text) <= keep else "..." + text[-keep:]


class WorkStep(BaseModel):
    """How a campaign works on each empty host and proves it back in service."""

    command: str | None = None
    deployment: str | None = None
    timeout_s: float = Field(3600, gt=0)
    on_failure: Literal["stop", "skip"] = "stop"
    check_timeout_s: float = Field(1800, gt=0)
    canary: bool = False

    @property
    def given(self) -> bool:
        return bool(self.command or self.deployment)

    @property
    def what(self) -> str:
        return f"`{self.command}`" if self.command else f"deployment {self.deployment}"


def with_claims(snapshot: Snapshot, claims: Mapping[str, str]) -> Snapshot:
    """The snapshot with room taken on each target of a move planned by another drain still
    under way (instance id -> target) whose instance has not arrived there yet.

    Drains run side by side; without this, two plans could count on the same free room. A
    move already in flight may be counted twice (Placement may hold its target allocation
    already): that errs on the side of room left free.
    """
    extra: dict[str, Resources] = {}
    for inst in snapshot.instances:
        target = claims.get(inst.id)
        if target is not None and inst.host != target:
            extra[target] = extra.get(target, Resources()) + inst.resources
    if not extra:
        return snapshot
    hosts = [
        h.model_copy(update={"used": h.used + extra[h.name]}) if h.name in extra else h
        for h in snapshot.hosts
    ]
    return snapshot.model_copy(update={"hosts": hosts})


def in_service(snapshot: Snapshot, hosts: Iterable[str]) -> Snapshot:
    """The snapshot with `hosts` enabled and up: hosts the campaign proved back in service and
    enabled after the snapshot was read (it may show them disabled, or down mid-reboot)."""
    back = set(hosts)
    if not back:
        return snapshot
    fixed = {
        "status": "enabled",
        "state": "up",
        "forced_down": False,
        "placement_disabled": False,
        "disabled_reason": None,
    }
    return snapshot.model_copy(
        update={
            "hosts": [
                h.model_copy(update=fixed) if h.name in back and not h.accepts_instances else h
                for h in snapshot.hosts
            ]
        }
    )
