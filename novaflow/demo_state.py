"""Where a running `novaflow demo --keep` can be found, so a second terminal can use it.

The demo writes a small JSON file (its pid, its Prefect API URL, its clouds.yaml and its
Prometheus, if it runs one) to
`.novaflow/demo.json` in the directory it was started from and, when the session has one,
to `$XDG_RUNTIME_DIR/novaflow-demo.json`. A reader trusts the file only while the demo's
process is alive, so a demo that crashed or was stopped is never taken for a running one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError


class DemoStack(BaseModel):
    """What a second terminal needs from a running demo."""

    pid: int
    prefect_api_url: str
    clouds_yaml: str
    prometheus_url: str | None = None

    def exports(self) -> list[str]:
        """The shell lines that point another terminal at this demo."""
        lines = [
            f"export PREFECT_API_URL={self.prefect_api_url}",
            f"export OS_CLIENT_CONFIG_FILE={self.clouds_yaml}",
        ]
        if self.prometheus_url:
            lines.append(f"export NOVAFLOW_PROMETHEUS_URL={self.prometheus_url}")
        return lines


def state_files() -> list[Path]:
    """Where the demo's state is written and looked for, nearest first."""
    paths = [Path(".novaflow") / "demo.json"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        paths.append(Path(runtime) / "novaflow-demo.json")
    return paths


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, but not our demo
        return False
    return True


def write_demo_state(stack: DemoStack) -> list[Path]:
    """Record the running demo; returns the files written (the demo removes them at exit)."""
    written = []
    for path in state_files():
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(stack.model_dump_json(indent=1) + "\n")
            written.append(path.resolve())
    return written


def forget_demo_state(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def running_demo() -> DemoStack | None:
    """The demo left running by `novaflow demo --keep`, if its process is still alive."""
    for path in state_files():
        try:
            stack = DemoStack.model_validate_json(path.read_text())
        except (OSError, ValidationError, ValueError):
            continue
        if _alive(stack.pid):
            return stack
    return None


def use_demo_clouds() -> str | None:
    """Point openstacksdk at the running demo's clouds.yaml, and rebalance at its Prometheus,
    where nothing else names them.

    Only when OS_CLIENT_CONFIG_FILE (or NOVAFLOW_PROMETHEUS_URL) is unset: an operator's own
    choice always wins. Returns the clouds.yaml now in use, if this chose it."""
    demo = running_demo()
    if demo is None:
        return None
    if demo.prometheus_url and not os.environ.get("NOVAFLOW_PROMETHEUS_URL"):
        os.environ["NOVAFLOW_PROMETHEUS_URL"] = demo.prometheus_url
    if os.environ.get("OS_CLIENT_CONFIG_FILE") or not Path(demo.clouds_yaml).is_file():
        return None
    os.environ["OS_CLIENT_CONFIG_FILE"] = demo.clouds_yaml
    return demo.clouds_yaml
