"""One Cloud connection per cloud name per process, shared by every task of a run.

Tasks take the cloud's *name* (serialisable, cacheable) and look the connection up here,
so a run's concurrent move tasks share one session and one batched observer.
"""

from __future__ import annotations

import threading

from novaflow.cloud import Cloud

_clouds: dict[str, Cloud] = {}
_lock = threading.Lock()


def cloud_for(name: str) -> Cloud:
    """The shared connection to `name` (clouds.yaml entry), opened on first use."""
    with _lock:
        cloud = _clouds.get(name)
        if cloud is None:
            cloud = Cloud.connect(name)
            _clouds[name] = cloud
        return cloud


def forget_clouds() -> None:
    """Drop cached connections (tests that restart a cloud under the same name)."""
    with _lock:
        _clouds.clear()
