"""Moves as Nova runs them: live migration, cold migration (+confirm/revert) and evacuation."""

from novaflow.sim.moves.cold import cold_failed, cold_migrate, confirm_resize, revert_resize
from novaflow.sim.moves.common import duration, is_vtpm, live_blocker
from novaflow.sim.moves.evacuation import evacuate, evacuation_failed
from novaflow.sim.moves.live import (
    abort_live,
    fail_live,
    find_migration,
    force_complete,
    live_migrate,
    start_queued_live,
)

__all__ = [
    "abort_live",
    "cold_failed",
    "cold_migrate",
    "confirm_resize",
    "duration",
    "evacuate",
    "evacuation_failed",
    "fail_live",
    "find_migration",
    "force_complete",
    "is_vtpm",
    "live_blocker",
    "live_migrate",
    "revert_resize",
    "start_queued_live",
]
