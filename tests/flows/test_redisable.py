"""Rolling maintenance over hosts that are already disabled: by novaflow, or by someone else."""

from __future__ import annotations

from flows.params import ApprovalSettings, RunSettings
from flows.rolling import rolling_maintenance
from novaflow.sim.spec import ClusterSpec
from tests.flows.conftest import APPROVE, drive, service, where


def settings(**kw) -> RunSettings:
    kw.setdefault("approval", ApprovalSettings(timeout_s=60))
    return RunSettings(cloud="sim", move_timeout_s=60, **kw)


def test_a_host_novaflow_left_disabled_is_disabled_again_drained_and_enabled(cloud_of):
    """Found on real Nova: re-disabling cmp-b (left disabled by an earlier novaflow run) sent
    only the new reason, Nova answered 400, and the run crashed after approval with cmp-a
    disabled and full. Now both are drained and enabled again."""
    spec = (
        ClusterSpec()
        .host("cmp-a")
        .host("cmp-b", disabled=True, disabled_reason="novaflow: rolling maintenance")
        .host("cmp-c")
    )
    spec.instance("a-0", host="cmp-a").instance("b-0", host="cmp-b")
    sim = cloud_of(spec)
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        batch_size=2,
        min_free_fraction=0.0,
        wait_for_done=False,
        reason="kernel 6.8",
        settings=settings(),
    )
    assert where(sim, "a-0") == ("cmp-c", "ACTIVE") and where(sim, "b-0") == ("cmp-c", "ACTIVE")
    for host in ("cmp-a", "cmp-b"):
        assert service(sim, host).status == "enabled"
    assert report.ok, report.notes


class DisableDuringBatchOne(dict):
    """Gate answers; at batch 1's gate an operator disables cmp-b for their own work."""

    def __init__(self, sim) -> None:
        super().__init__({"approve-plan": APPROVE, "batch-1-done": APPROVE})
        self.sim = sim

    def get(self, gate, default=None):
        if gate == "batch-1-done":
            conn = self.sim.connect()
            conn.compute.disable_service(service(self.sim, "cmp-b"), disabled_reason="bad disk")
        return super().get(gate, default)


def test_a_host_someone_disables_during_the_run_is_left_as_they_set_it(cloud_of):
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("cmp-c")
    spec.instance("a-0", host="cmp-a").instance("b-0", host="cmp-b")
    sim = cloud_of(spec)
    report = drive(
        rolling_maintenance,
        DisableDuringBatchOne(sim),
        hosts=["cmp-a", "cmp-b"],
        batch_size=1,
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert where(sim, "a-0")[0] != "cmp-a" and service(sim, "cmp-a").status == "enabled"
    theirs = service(sim, "cmp-b")
    assert (theirs.status, theirs.disabled_reason) == ("disabled", "bad disk")
    assert where(sim, "b-0") == ("cmp-b", "ACTIVE")
    assert any(
        "cmp-b was disabled by someone else meanwhile (reason: bad disk)" in n for n in report.notes
    ), report.notes
