"""Requests in turn: Nova starts the moves it queues in the order their requests arrive.

A host's live migrations beyond its `max_concurrent_live_migrations`, and a target's rebuilds
beyond its build slots, wait in Nova and start first come, first served. novaflow hands such
moves over ahead of time (so no slot idles while it notices a finished move), in the plan's
order: longest first, which keeps the makespan short. Many move threads racing to Nova would
scramble that order; a `Turn` keeps it. A move that will queue waits, before its first
request (its read and lock too, which would only slow the moves ahead), until every move
started before it on the same host has sent its own. Moves that start at
once in Nova do not wait for each other. The wait is bounded: a move whose predecessor is
stuck before its request goes anyway after `WAIT_S`, since it would only queue anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

WAIT_S = 10.0
"""The longest a move waits for the moves ahead of it to be requested."""


class Turn:
    """One move's place in its host's queue: the requests it waits for, and its own."""

    def __init__(self, after: Iterable[Turn] = ()) -> None:
        self.after = [t for t in after if not t.taken]
        self._sent = threading.Event()

    @property
    def taken(self) -> bool:
        """The move sent its request (or ended without one): the next may go."""
        return self._sent.is_set()

    def wait(self, timeout_s: float = WAIT_S) -> None:
        """Block until every move ahead has sent its request, or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        for turn in self.after:
            turn._sent.wait(max(0.0, deadline - time.monotonic()))

    def take(self) -> None:
        """This move's request is sent (or it will send none): let the next one go."""
        self._sent.set()
