"""The parameters every flow shares, as pydantic models the Prefect UI turns into a form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from novaflow.models import MethodPolicy
from novaflow.telemetry import LoadSettings


class ApprovalSettings(BaseModel):
    """How a run asks for the go-ahead before anything moves."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["ui", "slack", "none"] = Field(
        "ui",
        description=(
            "ui: the run pauses and waits for Resume in the Prefect UI (or the API); "
            "slack: the plan is posted to Slack with Approve / Reject buttons; "
            "none: no gate (logged as such; use for tested, scheduled jobs)."
        ),
    )
    timeout_s: int = Field(
        3600, ge=10, description="How long a gate waits for an answer before the default action."
    )
    on_timeout: Literal["reject", "approve"] = Field(
        "reject", description="What an unanswered gate does when it expires."
    )


class RunSettings(BaseModel):
    """Knobs shared by every scenario: the cloud, safety, limits and timeouts."""

    model_config = ConfigDict(extra="forbid")

    cloud: str = Field(
        "sim", description="Cloud name in clouds.yaml (OS_CLIENT_CONFIG_FILE / OS_CLOUD)."
    )
    dry_run: bool = Field(False, description="Plan and show the plan; never act on the cloud.")
    method: MethodPolicy = Field(
        MethodPolicy.LIVE_THEN_COLD,
        description="live, live-then-cold (cold where live is impossible or failed), or cold.",
    )
    max_parallel: int = Field(
        8, ge=1, le=256, description="Moves in flight at once across the whole run."
    )
    live_migration_slots: int = Field(
        1,
        ge=1,
        le=16,
        description=(
            "Live migrations one compute node runs at once (Nova's "
            "max_concurrent_live_migrations); aggregate metadata "
            "novaflow:max_concurrent_live_migrations overrides it per host."
        ),
    )
    rebuild_slots: int = Field(
        10,
        ge=1,
        le=64,
        description=(
            "Evacuations one compute node rebuilds at once (Nova's max_concurrent_builds, "
            "default 10)."
        ),
    )
    move_timeout_s: int = Field(
        1800, ge=1, description="A move still running after this is aborted and reported."
    )
    let_scheduler_choose: bool = Field(
        False, description="Let Nova's scheduler pick destinations (the plan still checks room)."
    )
    exclude_hosts: list[str] = Field(
        default_factory=list, description="Hosts that must not receive instances."
    )
    window_end: datetime | None = Field(
        None,
        description=(
            "End of the maintenance window: no new move starts after it; moves in flight "
            "finish and what is left is reported."
        ),
    )
    window_minutes: int | None = Field(
        None,
        ge=1,
        description=(
            "Window length from the run's start (for cron windows): sets window_end when "
            "the run starts; the earlier of the two ends applies."
        ),
    )
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    load: LoadSettings = Field(
        default_factory=LoadSettings,
        description="rebalance: measured CPU load from Prometheus (URL, window, mean or p95).",
    )

    @field_validator("window_end")
    @classmethod
    def _window_in_future(cls, end: datetime | None) -> datetime | None:
        if end is None:
            return None
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        if end <= datetime.now(UTC):
            raise ValueError(
                f"the window end {end.isoformat()} is in the past; give a future time "
                "(with its timezone) or leave it empty"
            )
        return end

    @model_validator(mode="after")
    def _window_from_length(self) -> RunSettings:
        if self.window_minutes:
            end = datetime.now(UTC) + timedelta(minutes=self.window_minutes)
            if self.window_end is None or end < self.window_end:
                self.window_end = end
        return self

    @model_validator(mode="after")
    def _exclusions_unique(self) -> RunSettings:
        twice = sorted({h for h in self.exclude_hosts if self.exclude_hosts.count(h) > 1})
        if twice:
            raise ValueError(
                f"excluded host given more than once: {', '.join(twice)}; name each one once"
            )
        return self
