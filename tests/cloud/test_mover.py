"""run_move against the simulated cloud: every path ends with the instance where we say it is."""

from __future__ import annotations

import threading

from novaflow.models import Method, Outcome
from novaflow.mover import run_move, still_on
from novaflow.sim.faults import FaultPlan
from novaflow.sim.spec import ClusterSpec

from .conftest import find, move_of


def spec() -> ClusterSpec:
    return (
        ClusterSpec()
        .host("src")
        .host("dst1")
        .host("dst2")
        .instance("web-1", host="src", flavor="m1.small")
        .instance("tpm-1", host="src", flavor="s1.vtpm")
        .instance("off-1", host="src", flavor="m1.small", status="SHUTOFF")
        .instance(
            "owned-1", host="src", flavor="m1.small", locked=True, locked_reason="owner's freeze"
        )
    )


def test_live_move_happy_path(connect) -> None:
    sim, cloud = connect(spec())
    web = find(cloud, "web-1")
    out = run_move(cloud, move_of(web, Method.LIVE, "dst1"), timeout_s=30)
    assert out.result == "moved" and out.method is Method.LIVE
    assert out.final_host == "dst1" and out.final_status == "ACTIVE"
    assert out.migration_id and out.error is None
    real = sim.instance(web.id)
    assert real.host == "dst1" and not real.locked


def test_live_refused_for_vtpm_falls_back_to_cold_and_confirms(connect) -> None:
    sim, cloud = connect(spec())
    tpm = find(cloud, "tpm-1")
    out = run_move(cloud, move_of(tpm, Method.LIVE, None, fallback=Method.COLD), timeout_s=30)
    assert out.result == "moved" and out.method is Method.COLD
    assert out.final_host != "src" and out.final_status == "ACTIVE"
    assert "vTPM" in (out.error or "") and "cold-migrated" in (out.error or "")
    assert sim.status_of(tpm.id) == "ACTIVE"


def test_live_refused_without_fallback_fails_and_says_where_it_is(connect) -> None:
    _, cloud = connect(spec())
    tpm = find(cloud, "tpm-1")
    out = run_move(cloud, move_of(tpm, Method.LIVE, "dst1"), timeout_s=30)
    assert out.result == "failed" and out.final_host == "src"
    assert "tpm-1" in out.error and "ACTIVE on src" in out.error
    assert out.remedy and "openstack server migrate" in out.remedy


def test_shutoff_instance_cold_migrates_and_stays_shutoff(connect) -> None:
    sim, cloud = connect(spec())
    off = find(cloud, "off-1")
    out = run_move(cloud, move_of(off, Method.COLD, "dst2"), timeout_s=30)
    assert out.result == "moved" and out.final_host == "dst2"
    assert out.final_status == "SHUTOFF"
    assert sim.status_of(off.id) == "SHUTOFF"


def test_evacuate_down_host_keeps_power_state_and_identity(connect) -> None:
    sim, cloud = connect(spec())
    web, off = find(cloud, "web-1"), find(cloud, "off-1")
    sim.kill_host("src")  # the node dies; the operator fences it below
    cloud.force_down("src")
    outs = [run_move(cloud, move_of(i, Method.EVACUATE), timeout_s=30) for i in (web, off)]
    assert [o.result for o in outs] == ["moved", "moved"]
    assert [o.final_status for o in outs] == ["ACTIVE", "SHUTOFF"]
    assert outs[0].error is None  # came back ACTIVE by itself (below 2.95): no restart needed
    after = cloud.server(web.id)
    assert after and after.name == web.name and after.addresses == web.addresses
    assert not still_on(outs, "src")


def test_hung_live_migration_is_aborted_and_back_on_source(connect) -> None:
    sim, cloud = connect(spec())
    sim.set_faults(FaultPlan(hang_nth_migrations=[1]))
    web = find(cloud, "web-1")
    out = run_move(cloud, move_of(web, Method.LIVE, "dst1"), timeout_s=1.0)
    assert out.result == "aborted", out.error
    assert out.final_host == "src" and out.final_status == "ACTIVE"
    assert "did not finish" in out.error and out.remedy
    real = sim.instance(web.id)
    assert real.host == "src" and real.task_state is None and not real.locked


def test_rerunning_a_finished_move_is_already_done(connect) -> None:
    sim, cloud = connect(spec())
    web = find(cloud, "web-1")
    move = move_of(web, Method.LIVE, "dst1")
    assert run_move(cloud, move, timeout_s=30).result == "moved"
    migrations = len(sim.migrations())
    again = run_move(cloud, move, timeout_s=30)
    assert again.result == "already-done" and again.final_host == "dst1"
    assert len(sim.migrations()) == migrations  # not migrated twice


def test_move_found_in_progress_is_waited_on_not_reissued(connect) -> None:
    sim, cloud = connect(spec())
    web = find(cloud, "web-1")
    cloud.live_migrate(web.id, "dst2")  # a crashed run's move, still in flight
    migrations = len(sim.migrations())
    out = run_move(cloud, move_of(web, Method.LIVE, "dst1"), timeout_s=30)
    assert out.result == "already-done" and out.final_host == "dst2"
    assert len(sim.migrations()) == migrations


def test_cold_move_left_in_verify_resize_is_confirmed_by_a_rerun(connect) -> None:
    sim, cloud = connect(spec())
    web = find(cloud, "web-1")
    cloud.cold_migrate(web.id, "dst1")
    view = cloud.observer().wait(
        web.id,
        lambda v: v.server.status == "VERIFY_RESIZE",
        timeout_s=30,
        initial=cloud.server_state(web.id),
    )
    assert not view.timed_out
    out = run_move(cloud, move_of(web, Method.COLD, "dst1"), timeout_s=30)
    assert out.result == "moved" and out.final_status == "ACTIVE" and out.final_host == "dst1"
    assert sim.instance(web.id).vm_state == "active"


def test_owner_locked_instance_is_moved_and_stays_locked(connect) -> None:
    sim, cloud = connect(spec())
    owned = find(cloud, "owned-1")
    out = run_move(cloud, move_of(owned, Method.LIVE, "dst1"), timeout_s=30)
    assert out.result == "moved"
    real = sim.instance(owned.id)
    assert real.locked and real.locked_reason == "owner's freeze"


def test_deleted_instance_is_skipped(connect) -> None:
    _, cloud = connect(spec())
    web = find(cloud, "web-1")
    gone = move_of(web, Method.LIVE).model_copy(
        update={"instance_id": "00000000-0000-4000-8000-000000000000"}
    )
    out = run_move(cloud, gone, timeout_s=5)
    assert out.result == "skipped" and "deleted" in out.error


def test_failed_evacuation_is_reset_and_evacuated_by_a_rerun(connect) -> None:
    sim, cloud = connect(spec())
    web = find(cloud, "web-1")
    sim.kill_host("src")
    cloud.force_down("src")
    sim.set_faults(FaultPlan(fail_nth_migrations=[1, 2]))  # the rebuild and its retry fail
    first = run_move(cloud, move_of(web, Method.EVACUATE), timeout_s=30)
    assert first.result == "failed" and first.final_status == "ERROR"
    assert "web-1" in first.error and "ERROR on src" in first.error
    again = run_move(cloud, move_of(web, Method.EVACUATE), timeout_s=30)
    assert again.result == "moved" and again.final_status == "ACTIVE"
    assert again.final_host != "src" and "reset its state" in again.error
    assert sim.host_of(web.id) == again.final_host and not sim.instance(web.id).locked


def test_instance_deleted_mid_move_is_skipped_at_once(connect) -> None:
    sim, cloud = connect(spec())
    # The migration hangs (never finishes by itself): only the deletion can end this move.
    sim.set_faults(FaultPlan(hang_nth_migrations=[1]))
    web = find(cloud, "web-1")
    observer = cloud.observer()
    timeouts = observer.stats.timeouts
    outcomes: list[Outcome] = []
    mover = threading.Thread(
        target=lambda: outcomes.append(
            run_move(cloud, move_of(web, Method.LIVE, "dst1"), timeout_s=120)
        )
    )
    mover.start()
    sim.wait_for(
        lambda: any(m.status == "running" for m in sim.migrations(web.id)),
        what="the live migration to be running",
    )
    assert sim.instance(web.id).locked  # the mover holds its lock while it waits
    sim.connect().compute.delete_server(web.id)  # the owner (an admin may delete a locked one)
    mover.join(timeout=60)  # a guard only: the move's own timeout is 120 s
    assert not mover.is_alive()
    (out,) = outcomes
    assert out.result == "skipped", out.error
    assert out.error == f"{web.label} was deleted by its owner during the move"
    assert out.remedy == "nothing to do"  # in particular no "unlock it" (nothing to unlock)
    assert out.final_status == "DELETED" and out.final_host is None
    assert observer.stats.timeouts == timeouts  # the DELETED listing ended the wait
    assert not still_on([out], "src")


def test_a_finished_migration_seen_before_the_server_moved_is_not_a_failure(connect) -> None:
    # Found by the fault matrix under load: one observer cycle can hold the server as it was
    # (still on its source) together with its migration already `completed`. That is a view
    # one step behind, not a failed migration: wait for the server rather than report it.
    from novaflow.cloud import Migration
    from novaflow.mover import _left_or_failed
    from novaflow.observer import View

    _sim, cloud = connect(spec())
    web = find(cloud, "web-1")
    on_source = cloud.server_state(web.id)
    done = Migration(id="1", instance_id=web.id, status="completed")
    failed = Migration(id="1", instance_id=web.id, status="error")
    assert not _left_or_failed(View(on_source, done), "src")
    assert _left_or_failed(View(on_source, failed), "src")
    moved = run_move(cloud, move_of(web, Method.LIVE, "dst1"), timeout_s=30)
    assert moved.result == "moved"
    assert _left_or_failed(View(cloud.server_state(web.id), done), "src")


def test_a_failed_rebuild_is_evacuated_again_at_once(connect) -> None:
    # Found by the fault matrix: a destination dying mid-rebuild left the instance ERROR on
    # the dead node until someone re-ran the flow.
    sim, cloud = connect(spec())
    web, off = find(cloud, "web-1"), find(cloud, "off-1")
    sim.kill_host("src")
    cloud.force_down("src")
    sim.set_faults(FaultPlan(fail_nth_migrations=[1, 3]))  # each one's first rebuild fails
    outs = [run_move(cloud, move_of(i, Method.EVACUATE, "dst1"), timeout_s=30) for i in (web, off)]
    assert [o.result for o in outs] == ["moved", "moved"]
    assert [o.final_status for o in outs] == ["ACTIVE", "SHUTOFF"]  # power state kept
    assert all(o.final_host in ("dst1", "dst2") for o in outs)
    assert all("evacuated again" in (o.error or "") for o in outs)
    assert not sim.instance(web.id).locked and len(sim.migrations(web.id)) == 2


NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


def test_a_cold_migration_nova_refuses_says_why_in_novas_words(connect) -> None:
    """NoValidHost: the report quotes Nova's event and points to capacity as Placement counts
    it, never to the `openstack server migrate` that would fail the same way."""
    sim, cloud = connect(spec())
    sim.set_faults(FaultPlan(no_valid_host_flavors=["m1.small"]))
    off = find(cloud, "off-1")
    out = run_move(cloud, move_of(off, Method.COLD, "dst1"), timeout_s=30)
    assert out.result == "failed" and out.final_host == "src" and out.final_status == "SHUTOFF"
    said = f"Nova refused: {NO_VALID_HOST} (conductor_migrate_server event, 2.84 details)"
    assert out.nova_reason == said and said in (out.error or "")
    assert out.cause == "no valid host"
    assert out.remedy and "openstack resource provider inventory list" in out.remedy
    assert f"openstack server migrate {off.id}" not in out.remedy
    assert sim.instance(off.id).host == "src" and not sim.instance(off.id).locked


def test_live_and_cold_both_refused_name_each_attempts_reason(connect) -> None:
    sim, cloud = connect(spec())
    sim.set_faults(FaultPlan(no_valid_host_flavors=["m1.small"]))
    web = find(cloud, "web-1")
    out = run_move(cloud, move_of(web, Method.LIVE, "dst1", fallback=Method.COLD), timeout_s=30)
    assert out.result == "failed" and out.final_host == "src" and out.final_status == "ACTIVE"
    error = out.error or ""
    assert "(conductor_live_migrate_instance event, 2.84 details)" in error
    assert "(conductor_migrate_server event, 2.84 details)" in error
    assert out.cause == "no valid host" and "--live-migration" not in (out.remedy or "")


def test_a_cold_migration_that_breaks_names_the_step_that_failed(connect) -> None:
    """A migration that ends in error (not a refusal): the failed compute step, its host,
    and where to read the whole story."""
    sim, cloud = connect(spec())
    sim.set_faults(FaultPlan(fail_nth_migrations=[1]))
    off = find(cloud, "off-1")
    out = run_move(cloud, move_of(off, Method.COLD, "dst1"), timeout_s=30)
    assert out.result == "failed" and out.final_host == "src"
    assert out.nova_reason == (
        "Nova failed it: Resize of instance from src to dst1 failed. "
        "(compute_resize_instance event, 2.84 details)"
    )
    assert out.remedy and f"openstack server event show {off.id} req-" in out.remedy
    assert "nova-compute log of src" in out.remedy
    assert f"openstack server migrate {off.id}" not in out.remedy


def test_before_2_84_the_reason_comes_from_the_events_traceback(connect) -> None:
    sim, cloud = connect(spec(), max_microversion="2.83")
    sim.set_faults(FaultPlan(no_valid_host_flavors=["m1.small"]))
    off = find(cloud, "off-1")
    out = run_move(cloud, move_of(off, Method.COLD, "dst1"), timeout_s=30)
    assert out.nova_reason == (
        f"Nova refused: {NO_VALID_HOST} (conductor_migrate_server event, traceback)"
    )
    assert out.cause == "no valid host"


def test_a_hard_affinity_member_refused_is_told_the_group_rule_not_capacity(connect) -> None:
    """The demo's failing pair: NoValidHost with room to spare, because Nova's affinity
    filter passes only hosts that already hold a member."""
    pair = (
        ClusterSpec()
        .host("src")
        .host("dst1")
        .group("db-pair", "affinity")
        .instance("db-a", host="src", flavor="m1.small", groups=["db-pair"])
        .instance("db-b", host="src", flavor="m1.small", groups=["db-pair"])
    )
    sim, cloud = connect(pair)
    db = find(cloud, "db-a")
    out = run_move(cloud, move_of(db, Method.LIVE, "dst1"), timeout_s=30)
    assert out.result == "failed" and sim.instance(db.id).host == "src"
    assert out.cause == "server group policy"
    assert "No valid host was found" in (out.nova_reason or "")
    assert out.remedy and "hard-affinity group db-pair" in out.remedy
    assert "resource provider" not in out.remedy


def test_a_live_migration_that_breaks_quotes_the_compute_step(connect) -> None:
    sim, cloud = connect(spec())
    sim.set_faults(FaultPlan(fail_nth_migrations=[1, 2]))  # to dst1, then the scheduler's
    web = find(cloud, "web-1")
    out = run_move(cloud, move_of(web, Method.LIVE, "dst1"), timeout_s=30)
    assert out.result == "failed" and out.final_host == "src" and out.final_status == "ACTIVE"
    assert "Nova failed it: Live migration from src to dst1 failed." in (out.error or "")
    assert (out.nova_reason or "").endswith("(compute_live_migration event, 2.84 details)")
    assert out.remedy and f"openstack server event show {web.id} req-" in out.remedy


def test_a_failed_evacuation_quotes_the_rebuild_and_says_to_reset_it(connect) -> None:
    sim, cloud = connect(spec())
    web = find(cloud, "web-1")
    sim.kill_host("src")
    cloud.force_down("src")
    sim.set_faults(FaultPlan(fail_nth_migrations=[1, 2]))
    out = run_move(cloud, move_of(web, Method.EVACUATE), timeout_s=30)
    assert out.result == "failed" and out.final_status == "ERROR"
    assert "(compute_rebuild_instance event, 2.84 details)" in (out.nova_reason or "")
    assert out.remedy and "reset or rebuild it" in out.remedy
    assert "openstack server evacuate" not in out.remedy


def test_an_aborted_live_migration_points_to_cold_or_force_complete(connect) -> None:
    sim, cloud = connect(spec())
    sim.set_faults(FaultPlan(hang_nth_migrations=[1]))
    web = find(cloud, "web-1")
    out = run_move(cloud, move_of(web, Method.LIVE, "dst1"), timeout_s=1.0)
    assert out.result == "aborted" and out.remedy
    assert f"openstack server migrate {web.id}" in out.remedy  # cold, not live again
    assert "force complete" in out.remedy and "--live-migration" not in out.remedy


def test_a_move_nova_answers_with_an_error_quotes_its_answer(connect) -> None:
    _, cloud = connect(spec())
    tpm = find(cloud, "tpm-1")
    out = run_move(cloud, move_of(tpm, Method.LIVE, "dst1"), timeout_s=30)
    assert out.result == "failed" and out.cause == "cannot live-migrate"
    assert out.nova_reason == (
        f"Nova refused: Operation 'live-migration' not supported for vTPM-enabled instance "
        f"({tpm.id}). (Nova's answer)"
    )
    assert out.remedy and out.remedy.endswith(f"openstack server migrate {tpm.id}")
