"""A benchmark's background sampler: `sample()` every few seconds while a run goes on."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Self


class Every(ABC):
    """Calls `sample()` at once and then every `every_s` seconds from a thread of its own,
    from `with` to its end."""

    def __init__(self, every_s: float, name: str) -> None:
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    @abstractmethod
    def sample(self) -> None:
        """Take one sample (runs on the sampler's thread)."""

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.every_s):
                return
