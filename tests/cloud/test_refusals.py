"""Nova's reasons mapped to causes and next steps (pure): never the request that just failed."""

from __future__ import annotations

import pytest

from novaflow.models import Method
from novaflow.refusals import (
    Cause,
    NovaReason,
    Situation,
    cause_of,
    explain,
    last_line,
    next_step,
)

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
IID = "2b0c4a1e-0000-4000-8000-000000000001"


def live(target: str | None = None) -> Situation:
    return Situation(IID, Method.LIVE, "cmp-1", target)


def cold(target: str | None = None) -> Situation:
    return Situation(IID, Method.COLD, "cmp-1", target)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (NO_VALID_HOST, Cause.NO_VALID_HOST),
        ("Insufficient compute resources: Free memory 512.00 MB < requested", Cause.NO_VALID_HOST),
        (
            "Exceeded maximum number of retries. Exhausted all hosts available for retrying "
            "build failures for instance x.",
            Cause.NO_VALID_HOST,
        ),
        ("Affinity instance group policy was violated.", Cause.GROUP_POLICY),
        ("Anti-affinity instance group policy was violated.", Cause.GROUP_POLICY),
        ("Compute service of cmp-3 is unavailable at this time.", Cause.HOST_UNAVAILABLE),
        ("Compute service of cmp-1 is still in use.", Cause.HOST_UNAVAILABLE),
        (
            "Migration pre-check error: Instance x has PCI passthrough devices",
            Cause.CANNOT_LIVE_MIGRATE,
        ),
        (
            "Operation 'live-migration' not supported for vTPM-enabled instance",
            Cause.CANNOT_LIVE_MIGRATE,
        ),
        ("Cannot 'migrate' instance x while it is in task_state migrating", Cause.BUSY),
        ("live migration did not finish within 1800 s", Cause.TIMEOUT),
        ("Live migration from cmp-1 to cmp-2 failed.", Cause.OTHER),
    ],
)
def test_nova_words_name_the_cause(text: str, cause: Cause) -> None:
    assert cause_of(text) is cause


def test_the_exception_class_of_a_traceback_names_the_cause_too() -> None:
    message, exc = last_line(
        'Traceback (most recent call last):\n  File "x.py", line 1, in f\n'
        f"nova.exception.NoValidHost: {NO_VALID_HOST}\n"
    )
    assert (message, exc) == (NO_VALID_HOST, "NoValidHost")
    assert cause_of("something vague", exc) is Cause.NO_VALID_HOST
    assert last_line(None) == ("", None)
    assert last_line("just words") == ("just words", None)


def test_no_valid_host_reads_as_the_operator_should_read_it() -> None:
    reason = NovaReason(
        NO_VALID_HOST, where="details", event="compute_prep_resize", request_id="req-1"
    )
    refusal = explain(reason, cold())
    assert refusal.cause is Cause.NO_VALID_HOST
    assert refusal.said == (
        f"Nova refused: {NO_VALID_HOST} (compute_prep_resize event, 2.84 details)"
    )
    assert "openstack resource provider inventory list" in refusal.next_step
    assert "exclude list" in refusal.next_step and "another target" in refusal.next_step


def test_next_steps_are_never_the_request_that_failed() -> None:
    """A migrate of the same instance fails the same way; only a different method may be
    suggested (cold after a live migration its devices refuse)."""
    for cause in Cause:
        for where in (live(), live("cmp-2"), cold(), Situation(IID, Method.EVACUATE, "cmp-1")):
            step = next_step(cause, where)
            if where.method is Method.COLD:
                assert f"openstack server migrate {IID}" not in step, (cause, step)
            if where.method is Method.LIVE:
                assert "--live-migration" not in step, (cause, step)
            if where.method is Method.EVACUATE:
                assert "openstack server evacuate" not in step, (cause, step)


def test_devices_that_cannot_live_migrate_point_to_cold_migration() -> None:
    step = next_step(Cause.CANNOT_LIVE_MIGRATE, live())
    assert step.endswith(f"openstack server migrate {IID}")


def test_a_disabled_or_down_host_points_to_another_target_or_evacuation() -> None:
    step = next_step(Cause.HOST_UNAVAILABLE, live("cmp-3"))
    assert "cmp-3" in step and "--enable" in step and "novaflow run evacuate --host cmp-1" in step
    evac = next_step(Cause.HOST_UNAVAILABLE, Situation(IID, Method.EVACUATE, "cmp-1"))
    assert "--down cmp-1" in evac


def test_a_stuck_live_migration_is_aborted_or_force_completed() -> None:
    where = Situation(IID, Method.LIVE, "cmp-1", migration_id="42")
    step = next_step(Cause.TIMEOUT, where)
    assert f"openstack server migration abort {IID} 42" in step
    assert f"openstack server migration force complete {IID} 42" in step


def test_an_unknown_reason_points_to_the_event_and_the_compute_log() -> None:
    reason = NovaReason(
        "Live migration from cmp-1 to cmp-2 failed.",
        where="traceback",
        event="compute_live_migration",
        request_id="req-9",
        host="cmp-1",
    )
    refusal = explain(reason, live())
    assert refusal.said.startswith("Nova failed it: Live migration from cmp-1 to cmp-2 failed.")
    assert f"openstack server event show {IID} req-9" in refusal.next_step
    assert "cmp-1" in refusal.next_step


def test_a_fault_is_named_as_the_servers_fault() -> None:
    refusal = explain(NovaReason(NO_VALID_HOST), cold())
    assert refusal.said.endswith("(the server's fault)")


def test_a_request_nova_answered_with_an_error_points_to_that_answer() -> None:
    reason = NovaReason("Cannot migrate to the host where the server exists.", where="response")
    refusal = explain(reason, cold("cmp-1"))
    assert refusal.said == (
        "Nova refused: Cannot migrate to the host where the server exists. (Nova's answer)"
    )
    assert "refused the request itself" in refusal.next_step
    assert "event" not in refusal.next_step  # no action was recorded to read


def test_no_valid_host_for_a_hard_affinity_member_names_the_group_rule() -> None:
    """Room does not help: Nova's affinity filter passes only hosts holding a member."""
    where = Situation(IID, Method.LIVE, "cmp-1", groups=(("db-pair", "affinity"),))
    refusal = explain(NovaReason(NO_VALID_HOST, where="details", event="x"), where)
    assert refusal.cause is Cause.GROUP_POLICY
    assert "hard-affinity group db-pair" in refusal.next_step
    assert "leave cmp-1 out of the run" in refusal.next_step
    assert "resource provider" not in refusal.next_step


def test_an_anti_affinity_violation_names_the_group() -> None:
    where = Situation(IID, Method.COLD, "cmp-1", groups=(("web", "anti-affinity"),))
    refusal = explain(NovaReason("Anti-affinity instance group policy was violated."), where)
    assert refusal.cause is Cause.GROUP_POLICY and "anti-affinity group web" in refusal.next_step
