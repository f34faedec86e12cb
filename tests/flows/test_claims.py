"""Host claims on a real Prefect server: a run gives back the claims it holds when it ends,
and only those; a claim another run has since taken stays that run's."""

from __future__ import annotations

from prefect import flow, get_client
from prefect.client.schemas.actions import VariableUpdate

from tasks.locks import claim_name, hosts_claimed

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
