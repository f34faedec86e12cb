"""The campaign's picture of the cloud: plans never wait for a read, yet never count room a
drain has taken, and see a host back in service the moment the campaign enabled it."""

from __future__ import annotations

import logging
import threading

from flows.picture import CloudPicture
from novaflow.models import Snapshot
from novaflow.sim.testing import wait_for
from tests.planner.util import LARGE, host, inst, snap

LOG = logging.getLogger("test-picture")


class Reads:
    """The cloud as successive reads would find it: each read returns the next picture."""

    def __init__(self, *pictures: Snapshot) -> None:
        self.pictures = list(pictures)
        self.count = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self) -> Snapshot:
        self.gate.wait()
        picture = self.pictures[min(self.count, len(self.pictures) - 1)]
        self.count += 1
        return picture


def used_ram(snapshot: Snapshot, name: str) -> int:
    return next(h.used.ram_mb for h in snapshot.hosts if h.name == name)


def accepts(snapshot: Snapshot, name: str) -> bool:
    return next(h.accepts_instances for h in snapshot.hosts if h.name == name)


def before_and_after_the_move() -> tuple[Snapshot, Snapshot]:
    """cmp-a drains a-1 (m1.large) onto out-1: read before the move, then after it."""
    hosts = [host("cmp-a", status="disabled"), host("out-1")]
    before = snap(hosts, [inst("a-1", "cmp-a", LARGE)])
    after = snap(hosts, [inst("a-1", "out-1", LARGE)])
    return before, after


def test_a_drain_that_ended_keeps_its_room_until_a_read_shows_where_it_went():
    before, after = before_and_after_the_move()
    reads = Reads(before, after)
    picture = CloudPicture(reads, LOG)
    picture.fresh()  # read before the move
    picture.drain_ended([("a-1-0000-uuid", "out-1")])
    # The newest read still shows a-1 on cmp-a: its room on out-1 stays taken.
    assert used_ram(picture.now({}), "out-1") == LARGE.ram_mb
    picture.fresh()  # a read begun after the drain ended shows a-1 on out-1, once
    assert used_ram(picture.now({}), "out-1") == LARGE.ram_mb
    assert picture.now({}, moving=False).instances[0].host == "out-1"


def test_the_room_of_a_move_that_failed_is_free_again_after_the_next_read():
    before, _ = before_and_after_the_move()
    picture = CloudPicture(Reads(before, before), LOG)  # a-1 never left cmp-a
    picture.fresh()
    picture.drain_ended([("a-1-0000-uuid", "out-1")])
    assert used_ram(picture.now({}), "out-1") == LARGE.ram_mb
    picture.fresh()
    assert used_ram(picture.now({}), "out-1") == 0


def test_a_read_begun_before_the_drain_ended_does_not_drop_its_room():
    before, _ = before_and_after_the_move()
    reads = Reads(before)
    picture = CloudPicture(reads, LOG)
    reads.gate.clear()
    reading = threading.Thread(target=picture.fresh)
    reading.start()
    wait_for(lambda: reading.is_alive(), timeout=5)
    picture.drain_ended([("a-1-0000-uuid", "out-1")])  # ends while the read is under way
    reads.gate.set()
    reading.join(timeout=5)
    assert used_ram(picture.now({}), "out-1") == LARGE.ram_mb


def test_a_host_put_back_in_service_is_a_target_before_the_next_read():
    down = snap([host("cmp-a", status="disabled", state="down"), host("out-1")], [])
    changed: list[str] = []
    picture = CloudPicture(Reads(down), LOG, host_changed=changed.append)
    picture.fresh()
    assert not accepts(picture.now({}), "cmp-a")
    picture.back_in_service("cmp-a")
    assert accepts(picture.now({}), "cmp-a")
    assert changed == ["cmp-a"]  # its inventories are read again (its work may change them)


def test_claims_of_drains_under_way_are_counted_but_not_kept():
    before, _ = before_and_after_the_move()
    picture = CloudPicture(Reads(before), LOG)
    claims = {"a-1-0000-uuid": "out-1"}
    assert used_ram(picture.now(claims), "out-1") == LARGE.ram_mb
    assert used_ram(picture.now({}), "out-1") == 0
    assert used_ram(picture.now(claims, moving=False), "out-1") == 0  # the margin's view


def test_the_picture_is_read_again_in_the_background_after_each_change():
    before, after = before_and_after_the_move()
    reads = Reads(before, after)
    with CloudPicture(reads, LOG) as picture:
        wait_for(lambda: picture.latest is before, timeout=5, what="the first read")
        assert reads.count == 1
        picture.drain_ended([("a-1-0000-uuid", "out-1")])
        wait_for(lambda: picture.latest is after, timeout=5, what="a read after the change")
        wait_for(lambda: reads.count == 2, timeout=5)
    assert reads.count == 2  # nothing changed after that: no read for nothing
