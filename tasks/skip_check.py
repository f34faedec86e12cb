"""The campaign's skip check: a command per host whose exit 0 means the work is already done
there (a kernel version check, say), so the host is marked done without being touched."""

from __future__ import annotations

import shlex
import subprocess

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

SKIP_CHECK_TIMEOUT_S = 120


@task(name="skip-check", task_run_name="skip-check-{host}", cache_policy=NO_CACHE)
def already_done(host: str, command: str) -> bool:
    """True when `command` (with `{host}` substituted, run without a shell) exits 0."""
    argv = shlex.split(command.replace("{host}", host))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=SKIP_CHECK_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        get_run_logger().warning(
            "Skip check on %s could not run (%s): the host is worked on", host, exc
        )
        return False
    get_run_logger().info("Skip check on %s: exit %d", host, done.returncode)
    return done.returncode == 0
