"""`python -m tests.reliability`: run the matrix under pytest and rewrite docs/reliability.md."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    os.environ["NOVAFLOW_RELIABILITY_REPORT"] = str(ROOT / "docs" / "reliability.md")
    return pytest.main([str(ROOT / "tests" / "reliability"), "-q", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
