"""The fault plan: which migrations fail or hang, which hosts die when, API errors and latency."""

from __future__ import annotations

import random
import time

from pydantic import BaseModel, Field


class ServiceDown(BaseModel):
    host: str
    at: float = Field(ge=0, description="Simulated seconds since the sim started.")


class FaultPlan(BaseModel):
    """Faults to inject. Migration counts (`*_nth_*`) start at 1 when the plan is applied."""

    fail_nth_migrations: list[int] = Field(default_factory=list)
    fail_hosts: list[str] = Field(
        default_factory=list, description="Every migration to or from these hosts fails."
    )
    hang_nth_migrations: list[int] = Field(
        default_factory=list, description="These migrations stay `running` until aborted."
    )
    hang_hosts: list[str] = Field(default_factory=list)
    hang_nth_live_migrations: list[int] = Field(
        default_factory=list,
        description="These live migrations (counted among live migrations only) hang.",
    )
    service_down: list[ServiceDown] = Field(default_factory=list)
    error_rate: float = Field(0.0, ge=0.0, le=1.0, description="Fraction of API calls -> 503.")
    error_for_s: float | None = Field(
        None,
        gt=0,
        description="A burst: error_rate applies for this many real seconds after the plan "
        "is applied, then stops (None: for as long as the plan holds).",
    )
    reset_rate: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Fraction of API calls whose connection is closed before Nova sees them.",
    )
    lost_reply_rate: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Fraction of API calls Nova handles whose connection is then closed "
        "before the answer is sent (the action happened; the client cannot know).",
    )
    latency_ms: float = Field(0.0, ge=0.0, description="Added to every API response.")
    expire_tokens: bool = Field(False, description="Invalidate every issued token now.")
    no_valid_host_flavors: list[str] = Field(
        default_factory=list, description="Flavor names or ids the scheduler never places."
    )
    seed: int = 0


class FaultInjector:
    """Applies a FaultPlan: decides per migration and per request, reproducibly from its seed."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.apply(plan or FaultPlan())

    def apply(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.migrations_seen = 0
        self.live_seen = 0
        self._rng = random.Random(plan.seed)
        self._net_rng = random.Random(f"{plan.seed}:net")
        self._errors_until = (
            time.monotonic() + plan.error_for_s if plan.error_for_s is not None else None
        )

    def next_migration(
        self, source: str, dest: str | None, kind: str = "live-migration"
    ) -> tuple[bool, bool]:
        """Count a new migration; return (fail, hang) for it."""
        self.migrations_seen += 1
        n = self.migrations_seen
        if kind == "live-migration":
            self.live_seen += 1
        hosts = {source, dest}
        fail = n in self.plan.fail_nth_migrations or bool(hosts & set(self.plan.fail_hosts))
        hang = n in self.plan.hang_nth_migrations or bool(hosts & set(self.plan.hang_hosts))
        if kind == "live-migration" and self.live_seen in self.plan.hang_nth_live_migrations:
            hang = True
        return fail, hang

    def host_fails(self, host: str | None) -> bool:
        return host is not None and host in self.plan.fail_hosts

    def host_hangs(self, host: str | None) -> bool:
        return host is not None and host in self.plan.hang_hosts

    def unavailable(self) -> bool:
        if self.plan.error_rate <= 0:
            return False
        if self._errors_until is not None and time.monotonic() >= self._errors_until:
            return False
        return self._rng.random() < self.plan.error_rate

    def connection_fault(self) -> str | None:
        """'reset' (drop the request unseen), 'lost-reply' (handle it, drop the answer) or None."""
        rate, lost = self.plan.reset_rate, self.plan.lost_reply_rate
        if rate <= 0 and lost <= 0:
            return None
        draw = self._net_rng.random()
        if draw < rate:
            return "reset"
        if draw < rate + lost:
            return "lost-reply"
        return None

    def no_valid_host(self, flavor_id: str, flavor_name: str) -> bool:
        names = set(self.plan.no_valid_host_flavors)
        return flavor_id in names or flavor_name in names


def parse_fault_flags(flags: list[str]) -> FaultPlan:
    """Turn `--fault key=value` flags into a FaultPlan.

    Keys: fail_nth=N, fail_host=H, hang_nth=N, hang_host=H, down=HOST@SECONDS,
    error_rate=F, error_for_s=F, latency_ms=F, reset_rate=F, lost_reply_rate=F,
    no_valid_host_flavor=NAME, seed=N.
    """
    data: dict[str, list[object]] = {}
    scalars: dict[str, object] = {}
    lists = {
        "fail_nth": ("fail_nth_migrations", int),
        "fail_host": ("fail_hosts", str),
        "hang_nth": ("hang_nth_migrations", int),
        "hang_host": ("hang_hosts", str),
        "no_valid_host_flavor": ("no_valid_host_flavors", str),
    }
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep:
            raise ValueError(f"fault {flag!r} is not key=value")
        key = key.strip().replace("-", "_")
        if key in lists:
            field, cast = lists[key]
            data.setdefault(field, []).extend(cast(v) for v in value.split(","))
        elif key == "down":
            host, _, at = value.partition("@")
            data.setdefault("service_down", []).append({"host": host, "at": float(at or 0)})
        elif key in ("error_rate", "error_for_s", "latency_ms", "reset_rate", "lost_reply_rate"):
            scalars[key] = float(value)
        elif key == "seed":
            scalars[key] = int(value)
        else:
            raise ValueError(f"unknown fault {key!r}")
    return FaultPlan.model_validate({**data, **scalars})
