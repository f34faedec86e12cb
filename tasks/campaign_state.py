"""A campaign's host states kept in Prefect between runs: a Variable per campaign, written as
hosts change state, and shown to the operator as a progress artifact and a table of hosts."""

from __future__ import annotations

import re
import threading
import time
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.variables import Variable

from novaflow.campaign import Campaign, HostRecord, drain_targets
from tasks.reporting import artifact_key

PASSING_SAVE_S = 5.0
"""Passing states (working, checking) are saved at most this often; every other change at
once. A crash then loses at most a host's step from working to checking, which the next
run repeats on an empty, disabled host; a disabled host's `enabled_before` (saved with
draining) and every outcome are never lost."""


def variable_name(campaign: str) -> str:
    """Prefect variable names allow lowercase letters, digits, dashes and underscores."""
    safe = re.sub(r"[^a-z0-9_-]+", "-", campaign.lower()).strip("-")
    return f"novaflow-campaign-{safe}"[:255]


def read_campaign(name: str) -> Campaign | None:
    """The campaign's records as last written, or None when no run of it ever started."""
    value = Variable.get(variable_name(name), default=None)
    return Campaign.model_validate(value) if value else None


def host_rows(campaign: Campaign) -> list[dict[str, str]]:
    """One row per host for the table artifact and `novaflow campaign show`."""
    return [
        {
            "host": r.host,
            "state": r.state,
            "since": r.since.strftime("%Y-%m-%d %H:%M:%S"),
            "moved off": str(r.moves),
            "note": r.note,
        }
        for r in campaign.hosts
    ]


class CampaignBook:
    """The campaign's records during a run: changes are saved to its Variable (see
    PASSING_SAVE_S) and move the progress artifact. Host pipelines run in
    threads of their own, so changes go through one lock."""

    def __init__(self, campaign: Campaign, *, persist: bool = True) -> None:
        self.campaign = campaign
        self.persist = persist
        """False for a run without a campaign name: shown, but not kept for a later run."""
        self._lock = threading.Lock()
        self._progress: UUID | None = None
        self._saved_at = 0.0

    @classmethod
    def open(cls, name: str) -> CampaignBook:
        return cls(read_campaign(name) or Campaign(campaign=name))

    @property
    def name(self) -> str:
        return self.campaign.campaign

    def record(self, host: str) -> HostRecord:
        with self._lock:
            return self.campaign.record(host)

    def targets(self, selected: list[str]) -> tuple[list[str], list[str]]:
        """(preferred, last resort) drain targets as the campaign stands now."""
        with self._lock:
            return drain_targets(self.campaign, selected)

    def include(self, hosts: list[str]) -> None:
        with self._lock:
            self.campaign.include(hosts)
            self._save()

    def put(self, record: HostRecord) -> None:
        with self._lock:
            self.campaign.put(record)
            passing = record.state in ("working", "checking")
            if not passing or time.monotonic() - self._saved_at >= PASSING_SAVE_S:
                self._save()
            self._show_progress()
        get_run_logger().info(
            "Campaign %s: %s is %s%s",
            self.name,
            record.host,
            record.state,
            f" ({record.note})" if record.note else "",
        )

    def publish(self) -> None:
        """The table of every host's state (at the start and the end of a run)."""
        with self._lock:
            self._save()
            self._show_progress()
            create_table_artifact(
                key=artifact_key("campaign", self.name),
                table=host_rows(self.campaign),
                description=f"campaign {self.name}: each host's state",
            )

    def _done_share(self) -> float:
        hosts = self.campaign.hosts
        done = sum(1 for r in hosts if r.state == "done")
        return 100.0 * done / len(hosts) if hosts else 100.0

    def _show_progress(self) -> None:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.campaign.counts().items()))
        what = f"campaign {self.name}: hosts done ({counts})"
        if self._progress is None:
            self._progress = create_progress_artifact(
                progress=self._done_share(),
                key=artifact_key("campaign", self.name, "progress"),
                description=what,
            )
        else:
            update_progress_artifact(self._progress, progress=self._done_share(), description=what)

    def _save(self) -> None:
        if not self.persist:
            return
        self._saved_at = time.monotonic()
        Variable.set(
            variable_name(self.name), self.campaign.model_dump(mode="json"), overwrite=True
        )
