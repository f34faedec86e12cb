"""A campaign's host states kept in Prefect between runs, and shown to the operator as a
progress artifact and a table of hosts.

Each host's record is a Prefect Variable of its own, `novaflow-campaign-<name>--<host>`
(JSON: state, since, note, work output tail, enabled_before, moves): Prefect caps a
Variable's value at 5,000 characters, which one Variable for a hundred hosts would pass,
and a change then rewrites one small value, not the whole campaign. The campaign is every
Variable under its prefix.
"""

from __future__ import annotations

import re
import threading
from uuid import UUID

from prefect import get_client, get_run_logger
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.variables import Variable

from novaflow.campaign import Campaign, HostRecord, drain_targets
from tasks.reporting import artifact_key

PAGE = 200
"""Variables read per request (the Prefect server's default page limit)."""


def _safe(text: str) -> str:
    """Prefect variable names allow lowercase letters, digits, dashes and underscores."""
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")


def variable_prefix(campaign: str) -> str:
    return f"novaflow-campaign-{_safe(campaign)}--"


def variable_name(campaign: str, host: str) -> str:
    return (variable_prefix(campaign) + _safe(host))[:255]


def read_campaign(name: str) -> Campaign | None:
    """The campaign's records as last written, or None when no run of it ever started."""
    prefix = variable_prefix(name)
    records: list[HostRecord] = []
    with get_client(sync_client=True) as client:
        offset = 0
        while True:
            body = {
                "variables": {"name": {"like_": prefix + "%"}},
                "limit": PAGE,
                "offset": offset,
                "sort": "NAME_ASC",
            }
            page = client.request("POST", "/variables/filter", json=body).json()
            records.extend(
                HostRecord.model_validate(v["value"])
                for v in page
                if v["name"].startswith(prefix) and isinstance(v.get("value"), dict)
            )
            if len(page) < PAGE:
                break
            offset += PAGE
    if not records:
        return None
    return Campaign(campaign=name, hosts=sorted(records, key=lambda r: r.host))


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
    """The campaign's records during a run: each change is saved at once (so a crashed run
    loses nothing) and moves the progress artifact. Host pipelines run in
    threads of their own, so changes go through one lock; the lock guards only the records
    in memory, never a request to the Prefect server. Held over the saves, it queued every
    plan turn (which reads the records) and every host's next step behind the other hosts'
    writes, two requests each on a server that is busy recording their moves. A host's own
    changes come one after another from its pipeline, so its saves stay in order."""

    def __init__(self, campaign: Campaign, *, persist: bool = True) -> None:
        self.campaign = campaign
        self.persist = persist
        """False for a run without a campaign name: shown, but not kept for a later run."""
        self._lock = threading.Lock()
        self._progress_lock = threading.Lock()
        """Keeps the progress artifact's updates in order (its share never goes back)."""
        self._progress: UUID | None = None

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
            known = {r.host for r in self.campaign.hosts}
            self.campaign.include(hosts)
            new = [r for r in self.campaign.hosts if r.host not in known]
        for record in new:
            self._save(record)

    def put(self, record: HostRecord) -> None:
        with self._lock:
            self.campaign.put(record)
        self._save(record)
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
        self._show_progress()
        with self._lock:
            rows = host_rows(self.campaign)
        create_table_artifact(
            key=artifact_key("campaign", self.name),
            table=rows,
            description=f"campaign {self.name}: each host's state",
        )

    def _done_share(self) -> float:
        hosts = self.campaign.hosts
        done = sum(1 for r in hosts if r.state == "done")
        return 100.0 * done / len(hosts) if hosts else 100.0

    def _show_progress(self) -> None:
        with self._progress_lock:
            with self._lock:  # the counts as of now, written before any later change's
                counts = ", ".join(f"{n} {s}" for s, n in sorted(self.campaign.counts().items()))
                share = self._done_share()
            what = f"campaign {self.name}: hosts done ({counts})"
            if self._progress is None:
                self._progress = create_progress_artifact(
                    progress=share,
                    key=artifact_key("campaign", self.name, "progress"),
                    description=what,
                )
            else:
                update_progress_artifact(self._progress, progress=share, description=what)

    def _save(self, record: HostRecord) -> None:
        if not self.persist:
            return
        Variable.set(
            variable_name(self.name, record.host), record.model_dump(mode="json"), overwrite=True
        )
