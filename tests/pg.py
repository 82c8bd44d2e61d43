"""A real, throwaway PostgreSQL server for the tests: `Cluster` runs `initdb` into a fresh
temporary directory and serves it on a free port on 127.0.0.1, with a role `observer` that logs
in with a random password over TCP (scram-sha-256), as observer will in production.

PostgreSQL refuses to run as root. When the tests run as root the server runs as the `postgres`
user (Debian's package makes it), or as a system user `observer-pg` made for the purpose, and
the temporary directory belongs to that user.

Durability is switched off (`fsync`, `synchronous_commit`, `full_page_writes`): a crash of the
machine loses a cluster nobody needs afterwards. Every wait has a deadline: `pg_ctl -w -t`, and
the timeouts of the commands themselves.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

SEARCH = "/usr/lib/postgresql/*/bin"
ROLE = "observer"
SUPERUSER = "postgres"  # the database's superuser, reached over the Unix socket only
OS_USERS = ("postgres", "observer-pg")  # who runs the server when we are root, in that order
START_TIMEOUT = 60  # seconds for `pg_ctl -w start` (first start: recovery is quick, no WAL)
STOP_TIMEOUT = 60  # seconds for `pg_ctl -w stop -m fast`
COMMAND_TIMEOUT = 120  # seconds for initdb and any other command
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    # Speed, not durability: the cluster lives as long as the test session.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "logging_collector": "off",  # pg_ctl -l writes the log file
}


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be run here: the message says what is missing in one line (a skip
    reason); `details` holds the output that explains it (a failure's report)."""

    def __init__(self, sentence: str, details: str = "") -> None:
        super().__init__(sentence)
        self.details = details


def _why(output: str) -> str:
    """The telling line of a failed command's output or a server log: the last FATAL or
    PANIC, else initdb's or pg_ctl's last error, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for marker in ("FATAL:", "PANIC:", "error:"):
        found = [line.split(marker, 1)[1].strip() for line in lines if marker in line]
        if found:
            return found[-1]
    return lines[-1] if lines else "no output"


@dataclass(frozen=True)
class Binaries:
    """A directory holding initdb, pg_ctl and postgres, and their major version."""

    bin_dir: Path
    version: str

    def __getitem__(self, name: str) -> str:
        return str(self.bin_dir / name)


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin: "15" or "9.6"; anything else sorts first.
    return tuple(int(p) for p in re.findall(r"\d+", bin_dir.parent.name)) or (-1,)


def _complete(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def find_binaries() -> Binaries:
    """initdb, pg_ctl and postgres: from PATH, or else the newest /usr/lib/postgresql/*/bin
    (Debian keeps them off PATH)."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    candidates += sorted(Path("/").glob(SEARCH.lstrip("/")), key=_version_key, reverse=True)
    for bin_dir in candidates:
        if _complete(bin_dir):
            out = subprocess.run(
                [str(bin_dir / "pg_ctl"), "--version"],
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            ).stdout
            found = re.search(r"(\d+)(\.\d+)*", out)
            return Binaries(bin_dir, found.group(0) if found else "unknown")
    raise PostgresUnavailable(
        "PostgreSQL's server programs (initdb, pg_ctl, postgres) are not installed: none on "
        f"PATH or in {SEARCH} (on Debian: apt-get install postgresql)"
    )


def server_user() -> str | None:
    """Who the server runs as: None for ourselves, or an unprivileged user when we are root
    (PostgreSQL will not run as root)."""
    if os.geteuid() != 0:
        return None
    for name in OS_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    name = OS_USERS[-1]
    try:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        why = made.stderr.strip() or f"useradd exit {made.returncode}"
    except OSError as exc:  # no useradd here
        why = str(exc)
    try:  # another pytest-xdist worker may have made it meanwhile: useradd failed, user exists
        pwd.getpwnam(name)
    except KeyError:
        raise PostgresUnavailable(
            f"PostgreSQL will not run as root and there is no `{OS_USERS[0]}` user; making the "
            f"system user `{name}` failed: {why}"
        ) from None
    return name


def free_port() -> int:
    """A port free on 127.0.0.1 right now (it may be taken before the server binds it: the
    first start tries another)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _open_to_others(path: Path) -> bool:
    """Every directory from / to `path` can be passed through by any user."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _base_dir(user: str | None) -> Path:
    """Where the temporary directory goes: the usual temp dir, unless another user could not
    reach it, or a Unix socket path inside it would be too long (~107 bytes)."""
    base = Path(tempfile.gettempdir())
    if len(str(base)) > 60 or (user is not None and not _open_to_others(base)):
        return Path("/tmp")
    return base


class Cluster:
    """One PostgreSQL cluster in a temporary directory: `data/` (the cluster), `sock/` (its
    Unix socket, for the superuser) and `server.log`. `start()` and `stop()` may be called
    again to take the server away and bring it back on the same port with the same data;
    `close()` stops it and removes the directory."""

    def __init__(self, binaries: Binaries | None = None) -> None:
        self.binaries = binaries or find_binaries()
        self.user = server_user()
        self.password = secrets.token_hex(16)
        self.port = 0
        self.dir = Path(tempfile.mkdtemp(prefix="observer-pg-", dir=_base_dir(self.user)))
        self.data, self.sock = self.dir / "data", self.dir / "sock"
        self.log = self.dir / "server.log"
        self._running = False
        try:
            self.sock.mkdir()
            if self.user is not None:
                entry = pwd.getpwnam(self.user)
                for path in (self.dir, self.sock):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            self._initdb()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    # -- commands, run as the server's user --

    def _command(self, *argv: str) -> list[str]:
        if self.user is None:
            return list(argv)
        if shutil.which("runuser"):
            return ["runuser", "-u", self.user, "--", *argv]
        return ["su", "-s", "/bin/sh", self.user, "-c", shlex.join(argv)]

    def _run(
        self, *argv: str, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[Any]:
        # cwd: a directory the server's user can enter (root's own may not be).
        return subprocess.run(
            self._command(*argv),
            capture_output=True,
            text=True,
            cwd=self.dir,
            timeout=timeout,
            check=False,
        )

    def _initdb(self) -> None:
        done = self._run(
            self.binaries["initdb"],
            "--pgdata",
            str(self.data),
            "--username",
            SUPERUSER,
            "--auth-local",
            "trust",  # the socket is in a directory only the server's user (and root) can enter
            "--auth-host",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        if done.returncode != 0:
            output = f"{done.stdout}{done.stderr}"
            raise PostgresUnavailable(f"initdb failed: {_why(output)}", output)
        settings = {**SETTINGS, "unix_socket_directories": f"'{self.sock}'"}
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"\n# observer's test cluster\n{lines}")

    # -- the server --

    @property
    def running(self) -> bool:
        """Started by `start()`, or a postmaster left behind by a start that gave up waiting."""
        return self._running or (self.data / "postmaster.pid").exists()

    def start(self) -> None:
        """Start the server and wait until it takes connections. The first start picks a free
        port and makes the `observer` role; later starts reuse the port, so URLs stay valid."""
        if self.running:
            self._running = True
            return
        first = self.port == 0
        for _attempt in range(3 if first else 1):
            if first:
                self.port = free_port()
            done = self._run(
                self.binaries["pg_ctl"],
                "start",
                "--wait",
                "--timeout",
                str(START_TIMEOUT),
                "--pgdata",
                str(self.data),
                "--log",
                str(self.log),
                "-o",
                f"-p {self.port}",
                timeout=START_TIMEOUT + 30,
            )
            if done.returncode == 0:
                self._running = True
                break
            output = f"{done.stdout}{done.stderr}{self.log_tail()}"
            if not (first and "Address already in use" in self.log_tail()):
                raise PostgresUnavailable(
                    f"PostgreSQL did not start on 127.0.0.1:{self.port}: {_why(output)}", output
                )
        else:
            raise PostgresUnavailable("no free port on 127.0.0.1 for PostgreSQL", output)
        if first:
            self.psql(
                sql.SQL("create role {} with login createdb password {}").format(
                    sql.Identifier(ROLE), sql.Literal(self.password)
                )
            )

    def stop(self) -> None:
        """Stop the server (fast: sessions are cut off); the data stays for `start()`."""
        if not self.running:
            return
        done = self._run(
            self.binaries["pg_ctl"],
            "stop",
            "--wait",
            "--timeout",
            str(STOP_TIMEOUT),
            "--pgdata",
            str(self.data),
            "--mode",
            "fast",
            timeout=STOP_TIMEOUT + 30,
        )
        if done.returncode != 0:
            self._kill()
        self._running = False

    def _kill(self) -> None:
        """The postmaster would not stop: SIGKILL it, by the pid it wrote, and wait for it to
        go (its children leave when it does)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the server and remove its directory, data and log included."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- databases --

    def url(self, db: str) -> str:
        """How observer connects: as `observer`, with its password, over TCP."""
        return f"postgresql://{ROLE}:{self.password}@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        """A new, empty database owned by `observer`; its URL."""
        self.psql(
            sql.SQL("create database {} owner {} template template0").format(
                sql.Identifier(name), sql.Identifier(ROLE)
            )
        )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, cutting off whoever is still connected to it."""
        self.psql(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))

    def psql(self, query: str | sql.Composable, db: str = "postgres", *args: Any) -> list[Any]:
        """Run one statement as the superuser, over the Unix socket, outside a transaction (so
        CREATE DATABASE works); the rows it returns, if any. For setting up and asserting."""
        with psycopg.connect(
            host=str(self.sock),
            port=self.port,
            user=SUPERUSER,
            dbname=db,
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            cur = conn.execute(query, args or None)
            return cur.fetchall() if cur.description else []
