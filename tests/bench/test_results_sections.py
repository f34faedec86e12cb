"""`python -m bench --only ...` replaces its sections of RESULTS.md and keeps the others."""

from __future__ import annotations

from bench.__main__ import replace_sections

RESULTS = "# head\n\n- Date: then\n\n## A\n\nold a\n\n## B\n\nold b\n| t |\n\n## C\n\nold c\n"


def test_a_rerun_section_takes_the_place_of_its_own_heading_only() -> None:
    out = replace_sections(RESULTS, ["## B\n\nnew b\n"])
    assert out == "# head\n\n- Date: then\n\n## A\n\nold a\n\n## B\n\nnew b\n\n## C\n\nold c\n"


def test_the_last_section_and_a_new_one_are_replaced_and_added() -> None:
    out = replace_sections(RESULTS, ["## C\n\nnew c\n", "## D\n\nnew d\n"])
    assert out.endswith("## B\n\nold b\n| t |\n\n## C\n\nnew c\n\n## D\n\nnew d\n")
    assert "old c" not in out and out.count("## ") == 4
