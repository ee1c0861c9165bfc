"""PostgreSQL from Debian's packages, on loopback: a database for the Iceberg JDBC catalog (``catalog_uri``).

For tests and a local trial; production points ``catalog_uri`` at its own server. :func:`start` makes a
cluster in a folder of its own (``initdb``: one superuser, password authentication over TCP, no other
listener than 127.0.0.1), starts it with ``pg_ctl`` and creates the catalog's database. PostgreSQL refuses
to run as root, so under root the server runs as Debian's ``postgres`` user, in a folder that user owns
(under the system's temporary folder when the one asked for is not reachable by it). :func:`stop` stops it.
Invariant: the password reaches the server through a file readable by its user only, never a command line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

from lakegate.errors import SetupError, StackError

SERVER_USER = "postgres"  # Debian's: the server's owner when lakegate runs as root


@dataclass(frozen=True, slots=True)
class Postgres:
    folder: Path  # the cluster's data, its log and its socket
    port: int
    user: str
    password: str
    database: str

    @property
    def uri(self) -> str:
        """The ``catalog_uri`` for this server (with the password: a secret)."""
        password = urllib.parse.quote(self.password, safe="")
        return f"postgresql://{self.user}:{password}@127.0.0.1:{self.port}/{self.database}"

    def connect(self, database: str | None = None) -> Any:
        """A psycopg2 connection as the cluster's user (to ``database``, default: the catalog's)."""
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=database or self.database
        )

    def with_database(self, database: str) -> Postgres:
        """This server with a new, empty database of its own (one per test keeps tests apart)."""
        server = dataclasses.replace(self, database=database)
        _create_database(server)
        return server

    def iceberg_tables(self, catalog: str) -> set[tuple[str, str]]:
        """(namespace, table) of every table the Iceberg JDBC catalog ``catalog`` lists in this database."""
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT table_namespace, table_name FROM iceberg_tables WHERE catalog_name = %s", (catalog,))
            return {(str(n), str(t)) for n, t in cursor.fetchall()}

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"


def binaries() -> Path:
    """The newest installed server's ``bin`` folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file() and (p / "pg_ctl").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise SetupError(
            "no PostgreSQL server found under /usr/lib/postgresql: install Debian's package "
            "(apt-get install postgresql; .ci/run does) to use or test a PostgreSQL catalog"
        )
    return found[-1]


def start(folder: Path, port: int, *, database: str = "lakegate", user: str = "lakegate") -> Postgres:
    """A new cluster in ``folder`` (or, under root, a new folder the server's user can reach), started, with
    ``database`` owned by ``user`` (the cluster's superuser) and a random password."""
    as_root = os.geteuid() == 0
    if as_root:
        folder = Path(tempfile.mkdtemp(prefix="lakegate-postgres-"))  # /tmp: every user can reach it
    folder.mkdir(parents=True, exist_ok=True)
    server = Postgres(folder, port, user, secrets.token_urlsafe(18), database)
    password_file = folder / "initdb.password"
    password_file.write_text(server.password + "\n")
    password_file.chmod(0o600)
    if as_root:
        owner = pwd.getpwnam(SERVER_USER)
        for path in (folder, password_file):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    bin_dir = binaries()
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(server.data),
                "--username",
                user,
                "--pwfile",
                str(password_file),
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",  # a test's or a trial's cluster: speed over crash safety of the catalog
            ],
            as_root,
        )
    finally:
        password_file.unlink(missing_ok=True)
    # pg_ctl hands these to a shell: only fixed text and a number, and no Unix socket (TCP on loopback only).
    options = f"-c listen_addresses=127.0.0.1 -p {int(port)} -c unix_socket_directories='' -c fsync=off"
    _run(
        [str(bin_dir / "pg_ctl"), "--pgdata", str(server.data), "--log", str(server.log), "-o", options, "-w", "start"],
        as_root,
    )
    _create_database(server)
    return server


def stop(server: Postgres) -> None:
    """Stop the server (fast shutdown) and remove its folder."""
    as_root = os.geteuid() == 0
    with contextlib.suppress(StackError):  # not running (any more): only its folder is left
        _run([str(binaries() / "pg_ctl"), "--pgdata", str(server.data), "-m", "fast", "-w", "stop"], as_root)
    shutil.rmtree(server.folder, ignore_errors=True)


def _create_database(server: Postgres) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = server.connect("postgres")
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise StackError(
                    f"PostgreSQL on port {server.port} does not accept connections; see {server.log}"
                ) from None
            time.sleep(0.3)
    try:
        connection.autocommit = True  # CREATE DATABASE runs outside a transaction
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(server.database)))
    finally:
        connection.close()


def _run(command: list[str], as_root: bool) -> None:
    """Run a server tool (as the server's user under root), raising StackError with its output on failure."""
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        user=SERVER_USER if as_root else None,
        group=SERVER_USER if as_root else None,
        extra_groups=[] if as_root else None,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
        cwd="/",
    )
    if result.returncode != 0:
        raise StackError(f"{Path(command[0]).name} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
