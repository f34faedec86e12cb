"""How fast this machine is right now: the benchmarks' yardstick for comparing runs."""

from __future__ import annotations

import contextlib
import platform
import socket
import threading
import time

GAUGE_N = 300_000
ROUND_TRIPS = 2_000


def cpu_gauge() -> float:
    """Milliseconds this machine takes for a fixed piece of pure-Python work (the best of 5).

    The same code and settings, measured half an hour apart on one shared 2-CPU machine, ran
    the 1,000-move overhead flow at 25 and at 56 ms per move, with 12 and 28 ms of Prefect
    server CPU per move: the host, not the code, had changed (and a change measured in
    between looked like a gain it was not). Taken before each section, this says how fast
    the machine was then, so two RESULTS.md files, or two sections, can be compared."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        table = {}
        for i in range(GAUGE_N):
            table[i % 1000] = table.get(i % 1000, 0) + i * i
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best


def wakeup_gauge() -> float:
    """Milliseconds for `ROUND_TRIPS` one-byte round trips between two threads of this process
    over a 127.0.0.1 TCP connection (the best of 5).

    What a flow does for every call to the Prefect server or the cloud: a send, a thread
    woken up, a receive. The CPU gauge cannot see that cost: on one day the CPU gauge read
    28-29 ms before each of three overhead runs that took 42-53 ms per move, where runs of the
    same code had taken 30-35 ms after the same gauge reading earlier, and a trivial Prefect
    task cost 4.8 ms instead of 2.5. Taken beside the CPU gauge from then on."""
    best = float("inf")
    for _ in range(5):
        with socket.create_server(("127.0.0.1", 0)) as server:
            echo = threading.Thread(target=_echo, args=(server,), daemon=True)
            echo.start()
            with socket.create_connection(server.getsockname()) as conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                t0 = time.perf_counter()
                for _ in range(ROUND_TRIPS):
                    conn.sendall(b"x")
                    conn.recv(16)
                best = min(best, time.perf_counter() - t0)
            echo.join()
    return 1e3 * best


def _echo(server: socket.socket) -> None:
    conn, _ = server.accept()
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(ROUND_TRIPS):
            conn.sendall(conn.recv(16))


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), or the platform's name for it."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
