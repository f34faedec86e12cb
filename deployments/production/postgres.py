"""A private PostgreSQL for a Prefect server: Debian's postgresql package (installed with
apt-get when missing), its own data directory and loopback port, run as a non-root user.

The production lane's tests start one per session; an operator can start one by hand:

    python -m deployments.production.postgres /srv/novaflow-pg 5433

prints the `PREFECT_SERVER_DATABASE_CONNECTION_URL` to export, and runs until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

VERSION = "15"
BIN = Path(f"/usr/lib/postgresql/{VERSION}/bin")
DATABASE = "prefect"
ROLE = "prefect"
RUN_AS = "postgres"
"""PostgreSQL refuses to run as root; as root, the server runs as Debian's `postgres` user."""


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL: where its data lives and how a Prefect server reaches it."""

    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"


def ensure_installed() -> None:
    """Install Debian's postgresql package if its binaries are missing (needs root)."""
    if (BIN / "initdb").exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(
            f"PostgreSQL {VERSION} is not installed ({BIN} is missing): "
            "run `apt-get install -y postgresql` as root, then try again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "postgresql"], check=True, env=env)


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", RUN_AS, "--", *argv]


def _run(argv: list[str], log: Path) -> None:
    with log.open("a") as out:
        done = subprocess.run(
            _as_owner(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"`{' '.join(argv)}` exited {done.returncode}:\n{tail}")


def start(data: Path, port: int) -> Postgres:
    """initdb `data` (if new), start PostgreSQL on 127.0.0.1:`port`, create the database.

    Loopback only, with trust authentication: the database is the Prefect server's alone,
    on this machine. Its socket lives in the data directory, not /var/run/postgresql."""
    ensure_installed()
    data.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data, RUN_AS, RUN_AS)
    log = data.parent / f"{data.name}.log"
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(log, RUN_AS, RUN_AS)
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        _run([str(BIN / "initdb"), "-D", str(data), "-U", ROLE, "--auth=trust", "-E", "UTF8"], log)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200"
    _run([str(BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"], log)
    if fresh:
        _run([str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", ROLE, DATABASE], log)
    return Postgres(data, port)


def stop(pg: Postgres) -> None:
    """Stop it at once (fast shutdown: open connections are closed, nothing is lost)."""
    log = pg.data.parent / f"{pg.data.name}.log"
    with contextlib.suppress(RuntimeError):
        _run([str(BIN / "pg_ctl"), "-D", str(pg.data), "-m", "fast", "-w", "stop"], log)


@contextlib.contextmanager
def running_postgres(port: int) -> Iterator[Postgres]:
    """A PostgreSQL in a fresh temporary directory (readable by RUN_AS, unlike pytest's
    per-user temp dirs), stopped and removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="novaflow-pg-"))
    home.chmod(0o755)
    pg = None
    try:
        pg = start(home / "data", port)
        yield pg
    finally:
        if pg is not None:
            stop(pg)
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    pg = start(Path(argv[0]).resolve(), int(argv[1]))
    print(f"export PREFECT_SERVER_DATABASE_CONNECTION_URL={pg.url}", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        stop(pg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
