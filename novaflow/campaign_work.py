"""The work done on an empty host during a campaign, and what proves the host back in service.

A work command is an operator's template such as `ssh {host} sudo reboot`. It is split into
words the way a POSIX shell would (shlex) and `{host}` is put into each word afterwards, then
the words are run directly, never through a shell: a host name can never be read as shell
syntax. A template that needs pipes or `&&` says so itself: `sh -c 'ssh {host} ... && ...'`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import tempfile
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from novaflow.errors import BadRequest

OUTPUT_TAIL = 4096
"""Bytes of output kept in the report: the end of it, where a failure says why."""

_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class WorkResult(BaseModel):
    """How the work on one host ended: the report shows `detail` and keeps `output`."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    started_at: datetime
    ended_at: datetime
    output: str = ""
    detail: str


class ServiceProof(BaseModel):
    """Whether a host is back in service after its work, and the evidence in one line."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    saw_restart: bool = False
    detail: str


def command_words(template: str, host: str) -> list[str]:
    """The argv of `template` for `host`; refuses host names that are not plain host names."""
    if not _HOST_NAME.fullmatch(host):
        raise BadRequest(
            f"host name {host!r} cannot be put into a work command",
            "host names are letters, digits, '.', '_' and '-'",
        )
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise BadRequest(
            f"work command {template!r} cannot be split into words: {exc}",
            "close the quotes in the command template",
        ) from exc
    if not words:
        raise BadRequest("the work command is empty", "give a command, e.g. 'ssh {host} reboot'")
    return [w.replace("{host}", host) for w in words]


def seconds(value: float) -> str:
    """Whole seconds for humans ("41 s"), one decimal below ten."""
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def tail(text: str, limit: int = OUTPUT_TAIL) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def run_command(template: str, host: str, timeout_s: float) -> WorkResult:
    """Run the work command for `host`, killing its whole process group at the timeout.

    stdout and stderr go to one temporary file, so a chatty command never blocks on a full
    pipe and the output keeps the order the command wrote it in.
    """
    words = command_words(template, host)
    started = datetime.now(UTC)
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                words,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            return WorkResult(
                ok=False,
                started_at=started,
                ended_at=datetime.now(UTC),
                output=str(exc),
                detail=f"could not start {words[0]!r}: {exc.strerror or exc}",
            )
        try:
            code = proc.wait(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            code, timed_out = proc.wait(), True
        ended = datetime.now(UTC)
        out.seek(0)
        output = tail(out.read().decode(errors="replace"))
    took = seconds((ended - started).total_seconds())
    if timed_out:
        detail = f"timed out after {seconds(timeout_s)}"
    elif code < 0:
        detail = f"killed by signal {-code} after {took}"
    else:
        detail = f"exit {code} in {took}"
    return WorkResult(
        ok=code == 0 and not timed_out,
        started_at=started,
        ended_at=ended,
        output=output,
        detail=detail,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End the command and whatever it started (an ssh, a sleep) so nothing outlives it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
