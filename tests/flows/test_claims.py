"""Host claims on a real Prefect server: a run gives back the claims it holds when it ends,
and only those; a claim another run has since taken stays that run's."""

from __future__ import annotations

import pytest
from prefect import flow, get_client
from prefect.client.schemas.actions import VariableCreate, VariableUpdate
from prefect.states import Running

from tasks import locks
from tasks.locks import HostBusy, claim_name, hosts_claimed

HOSTS = [f"claim-{i:03d}" for i in range(230)]  # more than one page of the release's read


def _claims(hosts: list[str]) -> dict[str, str]:
    """Host -> the flow run id its claim names, for the hosts that have a claim."""
    with get_client(sync_client=True) as client:
        held = {h: client.read_variable_by_name(claim_name(h)) for h in hosts}
    return {h: v.value["flow_run_id"] for h, v in held.items() if v is not None}


def test_a_run_gives_back_every_claim_it_holds_and_leaves_a_taken_over_one(prefect_server):
    seen: dict[str, dict[str, str]] = {}

    @flow(name="test-claims")
    def hold() -> None:
        with hosts_claimed(HOSTS):
            seen["held"] = _claims(HOSTS)
            with get_client(sync_client=True) as client:  # as if another run took it over
                client.update_variable(
                    VariableUpdate(name=claim_name(HOSTS[7]), value={"flow_run_id": "other"})
                )

    hold()
    assert len(seen["held"]) == len(HOSTS)
    assert len(set(seen["held"].values())) == 1, "every claim names the same run"
    assert _claims(HOSTS) == {HOSTS[7]: "other"}
    with get_client(sync_client=True) as client:
        client.delete_variable_by_name(claim_name(HOSTS[7]))


def test_a_run_refused_one_host_names_its_holder_and_keeps_none_of_the_others(prefect_server):
    hosts = HOSTS[:20]

    @flow(name="test-claims-holder")
    def holder() -> None:
        pass

    @flow(name="test-claims-refused")
    def refused() -> None:
        with hosts_claimed(hosts):
            raise AssertionError("the run went on although another run holds claim-005")

    with get_client(sync_client=True) as client:
        other = client.create_flow_run(holder, state=Running())
        client.create_variable(
            VariableCreate(
                name=claim_name(hosts[5]),
                value={"flow_run_id": str(other.id), "flow_run_name": other.name, "flow": "x"},
            )
        )
    try:
        with pytest.raises(HostBusy, match=rf"claim-005 is already being worked on.*{other.name}"):
            refused()
        assert _claims(hosts) == {hosts[5]: str(other.id)}, "no claim but the holder's is left"
    finally:
        with get_client(sync_client=True) as client:
            client.delete_variable_by_name(claim_name(hosts[5]))


def test_a_claim_attempt_that_fails_leaves_none_of_the_run_s_claims_behind(
    prefect_server, monkeypatch
):
    hosts = HOSTS[:20]
    real = locks._try_claim

    def flaky(client, host, me):
        if host == hosts[3]:
            raise RuntimeError("the Prefect server went away")
        return real(client, host, me)

    monkeypatch.setattr(locks, "_try_claim", flaky)

    @flow(name="test-claims-failed")
    def failed() -> None:
        with hosts_claimed(hosts):
            raise AssertionError("the run went on without its claim on claim-003")

    with pytest.raises(RuntimeError, match="went away"):
        failed()
    assert _claims(hosts) == {}, "every claim the run took was given back"
