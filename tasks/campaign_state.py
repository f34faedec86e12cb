"""A campaign's host states kept in Prefect between runs, and shown to the operator as a
progress artifact and a table of hosts.

Each host's record is a Prefect Variable of its own, `novaflow-campaign-<name>--<host>`
(JSON: state, since, note, work output tail, enabled_before, moves): Prefect caps a
Variable's value at 5,000 characters, which one Variable for a hundred hosts would pass,
and a change then rewrites one small value, not the whole campaign. The campaign is every
Variable under its prefix.
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
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

SAVE_TRIES = 5
"""Attempts at saving a change before the writer gives up on it (the Prefect client already
retries each request on a busy server); the run's log names the hosts whose state was lost."""

SAVE_RETRY_S = 2.0

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
    """The campaign's records during a run: each change is kept in memory at once and saved
    to Prefect, with the progress artifact, by a writer thread of its own (`with book:`), in
    the order made; without the writer, a change is saved before `put` returns.

    Host pipelines run in threads of their own and plan from these records, so the lock
    guards only the records in memory, never a request to the Prefect server. Saved from the
    pipelines, a change cost its host 0.3-0.5 s of a busy server's time at each step (drain
    over -> work, work over -> check, check -> done), time in which the host did nothing:
    measured at 1.3 s a host over a 100-host campaign. A record still unsaved when a run
    crashes costs nothing but display: a host interrupted in draining, working or checking
    resumes the same way, and one whose `done` was lost is worked on once more next window.
    The run waits for every save before its report (`flush`)."""

    def __init__(self, campaign: Campaign, *, persist: bool = True) -> None:
        self.campaign = campaign
        self.persist = persist
        """False for a run without a campaign name: shown, but not kept for a later run."""
        self._lock = threading.Condition()
        self._progress_lock = threading.Lock()
        """Keeps the progress artifact's updates in order (its share never goes back)."""
        self._progress: UUID | None = None
        self._unsaved: dict[str, HostRecord] = {}
        """Host -> its newest record not yet saved (an older unsaved one is simply replaced)."""
        self._saving = False
        self._closing = False
        self._writer: threading.Thread | None = None

    def __enter__(self) -> CampaignBook:
        run = contextvars.copy_context().run  # its saves belong to this flow run
        self._writer = threading.Thread(
            target=run, args=(self._write_loop,), name="novaflow-campaign-book", daemon=True
        )
        self._writer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        if self._writer is not None:
            self._writer.join()
            self._writer = None

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
        self._keep(new, progress=False)

    def put(self, record: HostRecord) -> None:
        with self._lock:
            self.campaign.put(record)
        self._keep([record])
        get_run_logger().info(
            "Campaign %s: %s is %s%s",
            self.name,
            record.host,
            record.state,
            f" ({record.note})" if record.note else "",
        )

    def publish(self) -> None:
        """The table of every host's state (at the start and the end of a run), once every
        change made so far is saved."""
        self.flush()
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

    # -- saving ---------------------------------------------------------------------------
    def _keep(self, records: list[HostRecord], *, progress: bool = True) -> None:
        """Save `records` (and move the progress artifact): by the writer if it runs."""
        with self._lock:
            if self._writer is not None:
                self._unsaved.update({r.host: r for r in records})
                self._lock.notify_all()
                return
        for record in records:
            self._save(record)
        if progress:
            self._show_progress()

    def flush(self) -> None:
        """Return once every change made so far is saved (or given up on, with a warning)."""
        with self._lock:
            while self._writer is not None and (self._unsaved or self._saving):
                self._lock.wait()

    def _write_loop(self) -> None:
        failures = 0
        while True:
            with self._lock:
                while not self._unsaved and not self._closing:
                    self._lock.wait()
                if not self._unsaved:
                    return
                batch, self._unsaved = self._unsaved, {}
                self._saving = True
            try:
                for record in batch.values():
                    self._save(record)
                self._show_progress()
                failures = 0
            except Exception as exc:  # the server is busy or gone: keep them, try again
                failures += 1
                with self._lock:
                    for host, record in batch.items():
                        self._unsaved.setdefault(host, record)  # unless a newer one came
                    if failures >= SAVE_TRIES:
                        lost = sorted(self._unsaved)
                        self._unsaved = {}
                get_run_logger().warning(
                    "saving the campaign's host states failed (%s)%s",
                    exc,
                    f"; given up after {SAVE_TRIES} tries, not saved: {', '.join(lost)}"
                    if failures >= SAVE_TRIES
                    else "; trying again",
                )
                if failures >= SAVE_TRIES:
                    failures = 0
                else:
                    time.sleep(SAVE_RETRY_S)
            finally:
                with self._lock:
                    self._saving = False
                    self._lock.notify_all()

    def _save(self, record: HostRecord) -> None:
        if not self.persist:
            return
        Variable.set(
            variable_name(self.name, record.host), record.model_dump(mode="json"), overwrite=True
        )
