"""Which method each instance gets, and the reasons an operator reads when it gets none."""

from __future__ import annotations

import pytest

from novaflow.models import CloudFeatures, Method, MethodPolicy
from novaflow.planner.constraints import Choice, Evacuation, Refusal, choose_method, evacuation

from .util import MEDIUM, flavor, inst

NEW = CloudFeatures(numa_live_migration=True)
OLD = CloudFeatures(numa_live_migration=False)
LTC = MethodPolicy.LIVE_THEN_COLD


def choose(i, policy=LTC, features=NEW):
    return choose_method(i, policy, features)


def test_active_instance_live_migrates_with_cold_fallback():
    c = choose(inst("web", "h1", MEDIUM))
    assert isinstance(c, Choice)
    assert (c.method, c.fallback) == (Method.LIVE, Method.COLD)
    assert "block migration of 40 GiB local disk" in c.why


def test_boot_from_volume_needs_no_block_migration():
    c = choose(inst("web", "h1", MEDIUM, boot_from_volume=True))
    assert isinstance(c, Choice) and "block migration" not in c.why


def test_policy_live_has_no_fallback():
    c = choose(inst("web", "h1"), MethodPolicy.LIVE)
    assert isinstance(c, Choice) and c.method is Method.LIVE and c.fallback is None


def test_policy_cold_cold_migrates_and_says_it_reboots():
    c = choose(inst("web", "h1"), MethodPolicy.COLD)
    assert isinstance(c, Choice) and c.method is Method.COLD and "reboots" in c.why


@pytest.mark.parametrize("policy", list(MethodPolicy))
def test_shutoff_always_cold_migrates(policy):
    c = choose(inst("off", "h1", status="SHUTOFF"), policy)
    assert isinstance(c, Choice) and c.method is Method.COLD and c.fallback is None


def test_paused_live_migrates_but_cannot_fall_back_to_cold():
    c = choose(inst("p", "h1", status="PAUSED"))
    assert isinstance(c, Choice) and c.method is Method.LIVE and c.fallback is None


def test_paused_under_policy_cold_is_refused_with_unpause_remedy():
    c = choose(inst("p", "h1", status="PAUSED"), MethodPolicy.COLD)
    assert isinstance(c, Refusal) and "unpause" in c.remedy


def test_error_instance_is_skipped_with_reset_state_remedy():
    c = choose(inst("broken", "h1", status="ERROR"))
    assert isinstance(c, Refusal)
    assert "ERROR" in c.reason
    assert "openstack server set --state active" in c.remedy and "after checking it" in c.remedy


def test_task_in_progress_is_skipped():
    c = choose(inst("busy", "h1", task_state="migrating"))
    assert isinstance(c, Refusal) and "migrating" in c.reason and "wait" in c.remedy


@pytest.mark.parametrize(
    ("status", "word"),
    [
        ("SUSPENDED", "resume"),
        ("VERIFY_RESIZE", "resize confirm"),
        ("SHELVED", "shelve offload"),
        ("RESCUE", "unrescue"),
        ("BUILD", "wait"),
    ],
)
def test_states_nova_does_not_migrate_are_skipped(status, word):
    c = choose(inst("x", "h1", status=status))
    assert isinstance(c, Refusal) and word in c.remedy


def test_pci_passthrough_cold_migrates_and_lets_nova_pick_the_host():
    f = flavor("gpu", 8, 32, **{"pci_passthrough__alias": "a100:1"})
    c = choose(inst("gpu", "h1", f))
    assert isinstance(c, Choice) and c.method is Method.COLD and c.scheduler_picks
    assert "PCI passthrough" in c.why


def test_pci_under_policy_live_says_detach_the_device():
    f = flavor("gpu", 8, 32, **{"pci_passthrough__alias": "a100:1"})
    c = choose(inst("gpu", "h1", f), MethodPolicy.LIVE)
    assert isinstance(c, Refusal) and "detach the PCI device" in c.remedy


@pytest.mark.parametrize(
    "metadata",
    [{"novaflow-sim:sriov": "true"}, {"vnic_type": "direct"}, {"novaflow:vnic_type": "vdpa"}],
)
def test_sriov_markers_block_live_migration(metadata):
    c = choose(inst("nfv", "h1", metadata=metadata))
    assert isinstance(c, Choice) and c.method is Method.COLD and "SR-IOV" in c.why


def test_normal_vnic_does_not_block():
    c = choose(inst("web", "h1", metadata={"vnic_type": "normal"}))
    assert isinstance(c, Choice) and c.method is Method.LIVE


def test_vtpm_cold_migrates_and_is_not_evacuated():
    i = inst("vault", "h1", flavor("s", 2, 4, **{"hw__tpm_version": "2.0"}))
    c = choose(i)
    assert isinstance(c, Choice) and c.method is Method.COLD and "vTPM" in c.why
    e = evacuation(i, shared_storage=False)
    assert isinstance(e, Refusal) and "vTPM" in e.reason


def test_cpu_pinning_blocks_live_migration_only_on_old_clouds():
    i = inst("db", "h1", flavor("p", 4, 8, **{"hw__cpu_policy": "dedicated"}))
    assert choose(i, features=NEW).method is Method.LIVE
    old = choose(i, features=OLD)
    assert old.method is Method.COLD and "NUMA" in old.why


def test_numa_nodes_block_live_migration_on_old_clouds():
    i = inst("db", "h1", flavor("p", 4, 8, **{"hw__numa_nodes": "2"}))
    assert choose(i, MethodPolicy.LIVE, OLD).reason.startswith("CPU pinning")


def test_vfat_config_drive_blocks_live_migration():
    i = inst("cd", "h1", config_drive=True, metadata={"config_drive_format": "vfat"})
    c = choose(i)
    assert isinstance(c, Choice) and c.method is Method.COLD and "vfat" in c.why
    iso = inst("cd2", "h1", config_drive=True)
    assert choose(iso).method is Method.LIVE


def test_locked_instance_is_noted():
    assert "locked" in choose(inst("l", "h1", locked=True)).why


# -- evacuation ---------------------------------------------------------------------------
def test_error_instance_is_evacuable_and_the_reason_says_so():
    e = evacuation(inst("e", "h1", status="ERROR"), shared_storage=False)
    assert isinstance(e, Evacuation) and not e.needs_state_reset and "ERROR" in e.why


def test_stuck_task_needs_state_reset():
    e = evacuation(inst("s", "h1", task_state="migrating"), shared_storage=False)
    assert isinstance(e, Evacuation) and e.needs_state_reset and "reset" in e.why


def test_paused_needs_state_reset_before_evacuation():
    e = evacuation(inst("p", "h1", status="PAUSED"), shared_storage=False)
    assert isinstance(e, Evacuation) and e.needs_state_reset


def test_boot_from_volume_keeps_its_disk():
    e = evacuation(inst("v", "h1", boot_from_volume=True, image_id=None), False)
    assert isinstance(e, Evacuation) and "keeps its disk" in e.why and not e.loses_local_disk


def test_local_disk_is_rebuilt_from_image_unless_shared_storage():
    i = inst("l", "h1")
    lost = evacuation(i, False)
    kept = evacuation(i, True)
    assert lost.loses_local_disk and "lost" in lost.why
    assert not kept.loses_local_disk and "shared storage" in kept.why


def test_no_image_and_no_volume_cannot_be_rebuilt():
    e = evacuation(inst("x", "h1", image_id=None), False)
    assert isinstance(e, Refusal) and "nothing to rebuild" in e.reason
    assert isinstance(evacuation(inst("x", "h1", image_id=None), True), Evacuation)


def test_shelved_is_not_evacuated():
    assert isinstance(evacuation(inst("s", "h1", status="SHELVED"), False), Refusal)
