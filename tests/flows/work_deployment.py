"""A stand-in maintenance deployment for the work step's tests: `python -m
tests.flows.work_deployment` serves `fake-work/test` on the Prefect server of PREFECT_API_URL.

It writes each host it worked on to the file named by WORK_LOG, fails for hosts named
*-bad as a failed firmware flash would, and hangs for hosts named *-slow.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prefect import flow


@flow(name="fake-work")
def fake_work(host: str) -> str:
    if host.endswith("-bad"):
        raise RuntimeError(f"firmware flash failed on {host}: checksum mismatch")
    if host.endswith("-slow"):
        time.sleep(120)
    with Path(os.environ["WORK_LOG"]).open("a") as log:
        log.write(f"{host}\n")
    return f"worked on {host}"


if __name__ == "__main__":
    fake_work.serve(name="test", print_starting_message=False)
