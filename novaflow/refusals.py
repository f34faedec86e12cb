"""Why Nova refused or failed a move, in its own words, and a next step that can work.

Pure: the cloud adapter reads what Nova said (instance action events, the server's fault, an
error response); this module names the cause and derives the operator's next step from it.
The one rule it keeps: the next step is never the command that just failed, because Nova
would refuse it for the same reason (a retried NoValidHost is another NoValidHost).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from novaflow.models import Method


class Cause(StrEnum):
    """What stood in the way, as far as Nova's words tell."""

    NO_VALID_HOST = "no valid host"
    GROUP_POLICY = "server group policy"
    HOST_UNAVAILABLE = "host disabled or down"
    CANNOT_LIVE_MIGRATE = "cannot live-migrate"
    BUSY = "instance busy"
    TIMEOUT = "timed out"
    OTHER = "other"


REFUSED = (
    Cause.NO_VALID_HOST,
    Cause.GROUP_POLICY,
    Cause.HOST_UNAVAILABLE,
    Cause.CANNOT_LIVE_MIGRATE,
)
"""Causes where Nova declined the request (as opposed to a move that broke on the way)."""

# Most specific first: a NoValidHost caused by a group rule names the group rule.
_PATTERNS: tuple[tuple[Cause, re.Pattern[str]], ...] = (
    (Cause.GROUP_POLICY, re.compile(r"group policy|affinity", re.I)),
    (
        Cause.NO_VALID_HOST,
        re.compile(
            r"no ?valid ?host|not enough hosts available|insufficient compute"
            r"|exhausted all hosts|MaxRetriesExceeded",
            re.I,
        ),
    ),
    (
        Cause.HOST_UNAVAILABLE,
        re.compile(
            r"compute service of \S+ is (unavailable|still in use)|service is disabled"
            r"|host is (down|disabled)|ComputeServiceUnavailable|is not up",
            re.I,
        ),
    ),
    (
        Cause.CANNOT_LIVE_MIGRATE,
        re.compile(
            r"pre-check error|not supported for vTPM|PCI passthrough|SR-IOV|"
            r"MigrationPreCheckError|cannot live.migrate|live-migratable",
            re.I,
        ),
    ),
    (Cause.BUSY, re.compile(r"task_state|vm_state|InstanceInvalidState|is locked", re.I)),
    (Cause.TIMEOUT, re.compile(r"timed out|timeout|did not finish within", re.I)),
)


@dataclass(frozen=True)
class NovaReason:
    """What Nova said about one failed request, and where it said it.

    `where` is "details" (an instance action event's details, 2.84+), "traceback" (the
    event's traceback, its last line), "fault" (the server's fault) or "response" (the
    error body Nova answered the request with).
    """

    message: str
    where: str = "fault"
    event: str | None = None
    exception: str | None = None
    request_id: str | None = None
    host: str | None = None

    def source(self) -> str:
        """Where the words come from, for the operator who wants to read more."""
        if self.event and self.where == "details":
            return f"{self.event} event, 2.84 details"
        if self.event:
            return f"{self.event} event, {self.where}"
        return {"fault": "the server's fault", "response": "Nova's answer"}.get(
            self.where, self.where
        )


@dataclass(frozen=True)
class Situation:
    """What novaflow was doing when Nova said no."""

    instance_id: str
    method: Method
    source: str
    target: str | None = None
    migration_id: str | None = None
    groups: tuple[tuple[str, str], ...] = ()  # (name, policy) of its server groups

    def group(self, *policies: str) -> str | None:
        """The name of its first server group with one of `policies`."""
        return next((name for name, policy in self.groups if policy in policies), None)


@dataclass(frozen=True)
class Refusal:
    """Nova's reason, its cause, and the next step that follows from it."""

    cause: Cause
    said: str
    next_step: str


def cause_of(text: str, exception: str | None = None) -> Cause:
    """The cause behind Nova's words (and its exception class, when a traceback names it)."""
    for cause, pattern in _PATTERNS:
        if pattern.search(text) or (exception and pattern.search(exception)):
            return cause
    return Cause.OTHER


def last_line(traceback: str | None) -> tuple[str, str | None]:
    """A traceback's last line as (message, exception class): Nova puts the cause there."""
    lines = [x.strip() for x in (traceback or "").splitlines() if x.strip()]
    if not lines:
        return "", None
    head, sep, message = lines[-1].partition(": ")
    if sep and re.fullmatch(r"[\w.]+", head):
        return message, head.rsplit(".", 1)[-1]
    return lines[-1], None


def explain(reason: NovaReason, where: Situation) -> Refusal:
    """Nova's reason in the report's words, with the next step its cause calls for."""
    cause = cause_of(reason.message, reason.exception)
    if cause is Cause.NO_VALID_HOST and where.group("affinity"):
        # Nova's affinity filter passes only hosts that already hold a member: with the
        # members on the source, no host passes however much room there is.
        cause = Cause.GROUP_POLICY
    verb = "refused" if cause in REFUSED or reason.where == "response" else "failed it"
    said = f"Nova {verb}: {reason.message.rstrip()} ({reason.source()})"
    return Refusal(cause, said, next_step(cause, where, reason))


def _event_show(where: Situation, reason: NovaReason | None) -> str:
    if reason and reason.request_id:
        return f"openstack server event show {where.instance_id} {reason.request_id}"
    return f"openstack server event list {where.instance_id}"


def next_step(cause: Cause, where: Situation, reason: NovaReason | None = None) -> str:
    """What the operator can do about `cause`; never the same request again."""
    iid, target = where.instance_id, where.target
    if cause is Cause.NO_VALID_HOST:
        named = (
            f"the named target {target} has no room for it as Placement counts it, or "
            if (target)
            else ""
        )
        return (
            f"{named}no host that accepts it has room as Placement counts it: free capacity or "
            "enable a host, check the allocation ratios and reserved resources Nova uses "
            "(`openstack resource provider list --name <host>`, then `openstack resource "
            "provider inventory list <uuid>`), choose another target, or take hosts off the "
            "run's exclude list"
        )
    if cause is Cause.GROUP_POLICY:
        affinity, anti = where.group("affinity"), where.group("anti-affinity")
        if affinity:
            return (
                f"it is in hard-affinity group {affinity}: Nova accepts only a host that already "
                f"holds a member, so while its members are on {where.source} it cannot leave "
                f"alone; leave {where.source} out of the run, or recreate the group as "
                f"soft-affinity and move its members (`openstack server group show {affinity}`)"
            )
        if anti:
            return (
                f"it is in anti-affinity group {anti}: a target must hold no member (or fewer "
                f"than max_server_per_host, 2.64): choose a host without one (`openstack server "
                f"group show {anti}`)"
            )
        return (
            "its server group's rule decides where it may go (`openstack server group show "
            "<group>`): hard affinity accepts only a host that already holds a member; "
            "anti-affinity needs a host without a member (see max_server_per_host)"
        )
    if cause is Cause.HOST_UNAVAILABLE:
        if where.method is Method.EVACUATE:
            return (
                f"evacuation needs {where.source} down or forced down and a target that is up: "
                f"`openstack compute service set --down {where.source} nova-compute`, then "
                "choose an enabled, up target or let the scheduler choose"
            )
        to = f" ({target})" if target else ""
        return (
            f"a host it needs is disabled or down: choose an enabled, up target{to}, or enable "
            "it (`openstack compute service set --enable <host> nova-compute`); if the source "
            f"{where.source} is down, evacuate instead: novaflow run evacuate --host "
            f"{where.source}"
        )
    if cause is Cause.CANNOT_LIVE_MIGRATE:
        return (
            f"its devices cannot live-migrate: cold-migrate it (it reboots): "
            f"openstack server migrate {iid}"
            if where.method is Method.LIVE
            else f"read Nova's reason: {_event_show(where, reason)}"
        )
    if cause is Cause.BUSY:
        return (
            f"wait for its current task to end (`openstack server show {iid}`), or reset a "
            f"task stuck since a crash: openstack server set --state active {iid}"
        )
    if cause is Cause.TIMEOUT:
        if where.method is Method.LIVE:
            mid = where.migration_id or "<migration>"
            return (
                f"a live migration that does not converge: abort it (`openstack server "
                f"migration abort {iid} {mid}`) or force-complete it, which pauses the guest "
                f"(`openstack server migration force complete {iid} {mid}`), or cold-migrate "
                f"it while it is quiet: openstack server migrate {iid}"
            )
        return f"watch it and read Nova's reason: {_event_show(where, reason)}"
    if reason and reason.where == "response":
        # Nova refused the request before recording an action: its answer is all there is.
        return (
            "Nova refused the request itself, for the reason it gave: fix that first (the "
            f"instance: `openstack server show {iid}`; the target and the source: `openstack "
            "compute service list --service nova-compute`)"
        )
    return (
        f"read Nova's reason ({_event_show(where, reason)}) and the nova-compute log of "
        f"{reason.host if reason and reason.host else 'the hosts'} for that request"
    )
