"""A throwaway PostgreSQL cluster from the machine's binaries, for tests and CI.

Run as root, the cluster belongs to an unprivileged user (PostgreSQL refuses to run as
root). `python -m tests.pgserver start DIR` / `stop DIR` lets .ci/run manage one server
for the whole suite; the test fixtures start their own when none is given.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SUPERUSER = "postgres"


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _owner() -> str | None:
    """The user to run the cluster as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "migrate-ci"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "migrate-ci"], check=True)
    return "migrate-ci"


def _as_owner(owner: str | None, argv: list[str]) -> list[str]:
    return argv if owner is None else ["runuser", "-u", owner, "--", *argv]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(directory: Path) -> str:
    """initdb + pg_ctl start in `directory`; returns a SQLAlchemy URL to its `postgres` database."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    directory.mkdir(parents=True, exist_ok=True)
    owner = _owner()
    if owner is not None:
        shutil.chown(directory, owner)
        os.chmod(directory, 0o700)
    data = directory / "data"
    port = free_port()
    subprocess.run(
        _as_owner(
            owner, [initdb, "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-locale"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory} -c fsync=off"
    subprocess.run(
        _as_owner(
            owner, [pg_ctl, "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    (directory / "port").write_text(str(port))
    return url_for(port)


def url_for(port: int, database: str = "postgres") -> str:
    return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{database}"


def stop(directory: Path) -> None:
    pg_ctl = find_bin("pg_ctl")
    data = directory / "data"
    if pg_ctl and data.exists():
        subprocess.run(
            _as_owner(_owner(), [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
    shutil.rmtree(directory, ignore_errors=True)


def wait_ready(url: str, seconds: float = 15) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    verb, where = sys.argv[1], Path(sys.argv[2])
    if verb == "start":
        url = start(where)
        wait_ready(url)
        print(url)
    elif verb == "stop":
        stop(where)
    else:
        raise SystemExit(f"usage: python -m tests.pgserver start|stop DIR (not {verb!r})")


def halt(directory: Path) -> None:
    """Stop the server as a crash would (`pg_ctl stop -m immediate`), keeping its files."""
    subprocess.run(
        _as_owner(
            _owner(), [find_bin("pg_ctl"), "-D", str(directory / "data"), "-m", "immediate", "-w", "stop"]
        ),
        check=True,
        capture_output=True,
    )


def restart(directory: Path) -> str:
    """Start a halted server again on its port; returns its URL."""
    port = int((directory / "port").read_text())
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory} -c fsync=off"
    subprocess.run(
        _as_owner(
            _owner(),
            [
                find_bin("pg_ctl"),
                "-D",
                str(directory / "data"),
                "-o",
                options,
                "-l",
                str(directory / "log"),
                "-w",
                "start",
            ],
        ),
        check=True,
        capture_output=True,
    )
    return url_for(port)
