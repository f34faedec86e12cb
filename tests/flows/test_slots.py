"""A run's concurrency slots, against the session's real Prefect server: leased in batches,
reused across moves, shared fairly with other runs, and all given back."""

from __future__ import annotations

import contextvars
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from prefect import get_client

from novaflow.models import Method, Move
from novaflow.sim.testing import wait_for
from tasks.moves import Dispatcher, cloud_limit_name, ensure_slot_limits, slot_limit_name
from tasks.slots import REFRESH_S, RENEW_S, SlotPool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(prefect_server) -> Iterator:
    with get_client(sync_client=True) as client:
        yield client


@pytest.fixture
def limit(client) -> Iterator:
    """A fresh global concurrency limit of 3 slots; yields a reader of its active slots."""
    name = f"novaflow-test-{uuid.uuid4().hex[:8]}"
    client.upsert_global_concurrency_limit_by_name(name, 3)

    def active() -> int:
        return client.read_global_concurrency_limit_by_name(name).active_slots

    active.name = name
    yield active
    client.delete_global_concurrency_limit_by_name(name)


def test_one_lease_serves_many_moves_without_asking_the_server_again(client, limit):
    pool = SlotPool(client)
    taken = [pool.take([limit.name], {limit.name: 3}) for _ in range(3)]
    assert all(taken) and limit() == 3
    assert len(pool.leases[limit.name]) == 1  # one request leased all three
    for _ in range(10):  # moves end and the next ones reuse their slots
        pool.give_back(taken.pop())
        taken.append(pool.take([limit.name], {limit.name: 3}))
    assert len(pool.leases[limit.name]) == 1 and limit() == 3
    assert pool.take([limit.name], {limit.name: 1}) is None  # the limit is full
    pool.close()
    assert limit() == 0


def test_a_second_run_waits_until_the_first_gives_slots_back(client, limit):
    first, second = SlotPool(client), SlotPool(client, clock=Clock())
    held = [first.take([limit.name], {limit.name: 3}) for _ in range(3)]
    assert second.take([limit.name], {limit.name: 1}) is None
    assert second.refusal(limit.name) == "all slots held"
    for taken in held:
        first.give_back(taken)
    first.tidy({})  # nothing more to start: idle leases go back to the server
    first.settle()
    assert limit() == 0
    second.clock.now += 5  # past the refusal's back-off
    assert second.take([limit.name], {limit.name: 1}) is not None
    assert limit() == 1
    second.close()


def test_idle_slots_stay_while_moves_wait_for_them_and_go_once_old(client, limit):
    clock = Clock()
    pool = SlotPool(client, clock=clock)
    taken = pool.take([limit.name], {limit.name: 2})
    pool.give_back(taken)
    pool.tidy({limit.name: 2})  # two moves still want them: kept
    assert limit() == 2
    clock.now += REFRESH_S + 1  # old and idle: back to the server so other runs get a turn
    pool.tidy({limit.name: 2})
    pool.settle()
    assert limit() == 0 and not pool.leases[limit.name]


def test_a_limit_the_server_does_not_know_does_not_block_moves(client):
    pool = SlotPool(client)
    name = f"novaflow-missing-{uuid.uuid4().hex[:8]}"
    assert all(pool.take([name], {name: 1}) for _ in range(5))
    pool.close()


def test_leases_are_renewed_and_a_lost_one_takes_no_new_moves(client, limit):
    clock = Clock()
    pool = SlotPool(client, clock=clock)
    first = pool.take([limit.name], {limit.name: 1})
    clock.now += RENEW_S
    pool.renew_due(client)  # renewed: still counted on the server
    assert first[0].renewed_at == clock.now and limit() == 1
    client.release_concurrency_slots_with_lease(lease_id=first[0].id)  # as if it expired
    clock.now += RENEW_S
    pool.renew_due(client)
    assert first[0].lost
    second = pool.take([limit.name], {limit.name: 1})
    assert second[0] is not first[0] and limit() == 1  # a fresh lease, not the lost one
    pool.give_back(first)
    pool.tidy({})
    pool.close()
    assert limit() == 0


class SlowReleases:
    """The run's Prefect client, but the server answers a release only once `answer` is set
    (a busy server, recording the moves that just ended)."""

    def __init__(self, client, answer: threading.Event) -> None:
        self.client = client
        self.answer = answer

    def __getattr__(self, name: str):
        return getattr(self.client, name)

    def release_concurrency_slots_with_lease(self, **kwargs):
        self.answer.wait(30)
        return self.client.release_concurrency_slots_with_lease(**kwargs)


def test_giving_slots_back_does_not_wait_for_a_busy_server(client, limit):
    answer = threading.Event()
    pool = SlotPool(SlowReleases(client, answer))
    pool.give_back(pool.take([limit.name], {limit.name: 1}))
    threading.Timer(5, answer.set).start()  # a tidy that waited would return only after this
    pool.tidy({})  # the dispatcher's loop goes on to start the next moves at once
    assert not answer.is_set()
    assert not pool.leases[limit.name]  # the run no longer uses it...
    assert limit() == 1  # ...and the server still counts it until it has answered
    pool.close()  # the end of the run waits for every release
    assert answer.is_set()
    # The server answered the release; its count reads 0 a moment later (a read made within
    # milliseconds of the answer has shown 1: 4 of 9 runs on 2026-12-07).
    wait_for(lambda: limit() == 0, timeout=5)


class StoppedServer:
    """The renewal thread's Prefect client while the server is stopped: every renewal
    fails to connect until `down` is cleared; everything else goes through."""

    def __init__(self, client) -> None:
        self.client = client
        self.down = True
        self.refused = 0

    def __getattr__(self, name: str):
        return getattr(self.client, name)

    def renew_concurrency_lease(self, **kwargs):
        if self.down:
            self.refused += 1
            raise httpx.ConnectError("connection refused (the Prefect server is stopped)")
        return self.client.renew_concurrency_lease(**kwargs)


def test_renewals_failing_for_a_while_leave_the_move_running_and_its_slot_is_given_back(
    client, limit
):
    clock, told = Clock(), []
    pool = SlotPool(client, clock=clock, warn=told.append)
    move = pool.take([limit.name], {limit.name: 1})  # a long live migration starts
    renewals = StoppedServer(client)
    for _ in range(3):  # three renewal intervals without a server: a whole LEASE_S
        clock.now += RENEW_S
        pool.renew_due(renewals)  # never raises: nothing stops the move
    assert renewals.refused >= 3
    assert not move[0].lost and move[0].counted, "a failed renewal is retried, not given up"
    assert told and all("trying again" in message for message in told), told
    assert limit() == 1, "the server still counts the move's slot"
    renewals.down = False  # the server is back before the lease ran out on its clock
    clock.now += RENEW_S
    pool.renew_due(renewals)
    assert move[0].renewed_at == clock.now and not move[0].lost
    pool.give_back(move)  # the migration ends
    pool.close()
    assert limit() == 0, "the slot is given back once the move is over"


def _moves(hosts: int, per_host: int) -> list[Move]:
    return [
        Move(
            instance_id=f"{h}-{i}",
            instance_name=f"vm-{h}-{i}",
            source=f"src-{h:04d}",
            method=Method.LIVE,
            reason="test",
        )
        for i in range(per_host)
        for h in range(hosts)
    ]


def test_a_run_from_a_thousand_hosts_leases_only_for_the_moves_it_can_start_next():
    """20,000 moves from 1,000 hosts and room for 8 in flight: slots on 8 hosts, not 1,000
    (each lease the server renews every RENEW_S and the idle ones it hands out again)."""
    run = Dispatcher("sim", slots={}, max_parallel=8, timeout_s=60)
    want = run._wanted(_moves(1000, 20), inflight=0)
    hosts = {name for name in want if name != cloud_limit_name("sim")}
    assert hosts == {slot_limit_name(f"src-{h:04d}") for h in range(8)}
    assert want[cloud_limit_name("sim")] == 8
    assert run._wanted(_moves(1000, 20), inflight=5)[cloud_limit_name("sim")] == 3


def test_a_one_host_drain_leases_its_host_budget_of_the_cloud_and_no_more():
    run = Dispatcher("sim", slots={"src-0000": 1}, max_parallel=32, timeout_s=60)
    want = run._wanted(_moves(1, 20), inflight=0)
    assert want == {slot_limit_name("src-0000"): 2, cloud_limit_name("sim"): 2}
    run.busy[("live", "src-0000")] = 2  # both slots moving: nothing more to lease
    assert run._wanted(_moves(1, 20), inflight=2) == {cloud_limit_name("sim"): 0}


def test_drains_creating_the_same_limit_at_once_all_get_it(client):
    """A campaign's first drains start side by side and each makes sure the cloud's limit
    exists: Prefect's upsert reads then creates, so all but one create are refused (409).
    None of them fails for it, and the limit ends at the size asked."""
    names = [f"novaflow-test-race-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    failures: list[BaseException] = []

    def make_all(start: threading.Barrier) -> None:
        for name in names:
            start.wait()
            try:
                ensure_slot_limits({name: 4})
            except Exception as exc:  # the test reports what broke
                failures.append(exc)

    start = threading.Barrier(6)
    drains = [
        threading.Thread(target=contextvars.copy_context().run, args=(make_all, start))
        for _ in range(6)
    ]
    for t in drains:
        t.start()
    for t in drains:
        t.join(timeout=60)
    assert failures == []
    assert [client.read_global_concurrency_limit_by_name(n).limit for n in names] == [4] * 5
