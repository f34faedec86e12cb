"""Each cell of the fault matrix: nothing in a bad state, nothing migrated twice, every
instance left behind named in the report with its reason."""

from __future__ import annotations

import pytest

from tests.reliability.faults import FAULTS, KILL_SEEDS, ROWS
from tests.reliability.matrix import RESTART

pytestmark = pytest.mark.timeout(1800)  # the session fixture runs the whole matrix

CELLS = [(row, f.key) for f in FAULTS for row in ROWS] + [(row, RESTART) for row in ROWS]


@pytest.mark.parametrize(("flow", "fault"), CELLS, ids=[f"{f}-{r}" for r, f in CELLS])
def test_cell(matrix, flow: str, fault: str) -> None:
    cell = matrix[(flow, fault)]
    if cell.na:
        pytest.skip(f"n/a: {cell.na}")
    assert not cell.bad, cell.bad
    # A cell whose fault could not be injected tested nothing (it passed once while every
    # owner-deletes injection raised after the delete, reading the deleted instance's name).
    assert not [n for n in cell.notes if n.startswith("injecting the fault failed")], cell.notes
    assert not cell.twice, cell.twice
    for left in cell.left:
        assert left.reason and left.reason != "NOT REPORTED", left
    if fault == "none":  # only what the plan itself leaves (e.g. a vTPM evacuation) stays
        assert cell.moved > 0 and all(x.reason.startswith("plan:") for x in cell.left), cell
    if fault in ("owner-stops", "owner-deletes"):  # the owner acted on an instance of the plan
        assert any(n.endswith("by its owner mid-run") for n in cell.notes), cell.notes
    if fault == "sigkill":
        assert len(cell.seeds) == KILL_SEEDS, cell.seeds
        assert any("killed at" in n for n in cell.notes), cell.notes
    if fault == "hang":
        hung = [x for x in cell.left if "abort" in x.reason]
        assert hung, cell.left  # aborted, and (no bad state) ACTIVE and unlocked on its source
    if fault == "same-host":
        refusal = next(n for n in cell.notes if n.startswith("second run"))
        first = next(n for n in cell.notes if n.startswith("first run"))
        assert "refused" in refusal and "being worked on by flow run" in refusal, refusal
        assert first.split("'")[1] in refusal  # names the run that holds the host
    if fault == "on-evacuating":
        refusal = next(n for n in cell.notes if n.startswith("second run"))
        assert "refused" in refusal or "did not touch" in refusal, refusal
