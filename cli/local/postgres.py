"""A project-local PostgreSQL 15 cluster with PostGIS, on its own loopback port."""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from api.settings import Settings
from cli.local.process import pid_alive, port_open
from cli.local.service import ServiceError, ServiceStatus

POSTGIS_PACKAGE = "postgresql-15-postgis-3"
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
ROOT_CLUSTERS = Path("/var/lib/gridgov")
NAME = "postgres"


def _is_root() -> bool:
    return os.geteuid() == 0


def as_owner(cmd: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if _is_root() else cmd


def log_file(settings: Settings) -> Path:
    """The cluster's server log."""
    return home(settings) / "postgres.log"


def home(settings: Settings) -> Path:
    """Where the cluster lives: beside the state directory, or, as root, where ``postgres`` can reach it.

    As root the cluster runs as ``postgres``, which cannot enter a checkout under a 0700 home
    directory (root's own, for one); so it lives in ``/var/lib/gridgov/<hash of the state dir>``,
    one per checkout and state directory.
    """
    if not _is_root():
        return settings.local.state_dir / "postgres"
    key = hashlib.sha256(str(settings.local.state_dir.resolve()).encode()).hexdigest()[:12]
    return ROOT_CLUSTERS / key / "postgres"


def _datadir(settings: Settings) -> Path:
    return home(settings) / "data"


def run(cmd: list[str], what: str, log: Path | None = None, env: dict[str, str] | None = None) -> None:
    """Run a set-up step from ``/`` (the cluster's user may not enter the caller's directory).

    A failure is one ServiceError that says what failed and where to look.
    """
    try:
        subprocess.run(cmd, check=True, cwd="/", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (subprocess.CalledProcessError, OSError) as exc:
        stderr = getattr(exc, "stderr", None) or b""
        last = stderr.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
        where = f"; see {log}" if log else ""
        raise ServiceError(f"{what} failed: {last[0]}{where}") from exc


def ensure_postgis_installed() -> None:
    """Install Debian's PostGIS package when missing and we are root; else say what to do."""
    if POSTGIS_CONTROL.exists():
        return
    if not _is_root() or shutil.which("apt-get") is None:
        raise ServiceError(f"PostGIS is not installed. Install it with: sudo apt-get install -y {POSTGIS_PACKAGE}")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], "apt-get update", env=env)
    run(["apt-get", "install", "-y", "-qq", POSTGIS_PACKAGE], f"apt-get install {POSTGIS_PACKAGE}", env=env)
    if not POSTGIS_CONTROL.exists():
        raise ServiceError(f"{POSTGIS_PACKAGE} was installed but {POSTGIS_CONTROL} is missing")


def bin_path(settings: Settings, name: str) -> str:
    """The PostgreSQL 15 program ``name`` (GRIDGOV_PG_BINDIR), or a ServiceError that says how to get it."""
    path = settings.local.pg_bindir / name
    if not path.exists():
        raise ServiceError(
            f"{path} not found. Install PostgreSQL 15 (apt-get install -y postgresql-15) or set GRIDGOV_PG_BINDIR"
        )
    return str(path)


def _initdb(settings: Settings) -> None:
    where, datadir = home(settings), _datadir(settings)
    if (datadir / "PG_VERSION").exists():
        return
    where.mkdir(parents=True, exist_ok=True)
    if _is_root():
        shutil.chown(where, "postgres", "postgres")
    run(
        as_owner(
            [
                bin_path(settings, "initdb"),
                "-D",
                str(datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--lc-ctype=C.UTF-8",  # CJK letters are letters: trigram search of Chinese text (migration 0023)
            ]
        ),
        f"initdb of {datadir}",
    )


def pid(settings: Settings) -> int | None:
    """The local cluster's postmaster, if it runs."""
    return pid_in(_datadir(settings))


def pid_in(datadir: Path) -> int | None:
    """The postmaster of the cluster in ``datadir``, if it runs."""
    pid_file = datadir / "postmaster.pid"
    try:
        found = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid_alive(found, "postgres"):
        return found
    # Left by a cluster killed with -9, or its pid now belongs to another program.
    pid_file.unlink(missing_ok=True)
    return None


def up(settings: Settings) -> ServiceStatus:
    """Start the local cluster (idempotent) and create the database; or check the given one."""
    if not settings.database.is_local:
        return status(settings)
    ensure_postgis_installed()
    _initdb(settings)
    port = settings.database.local_pg_port
    if pid(settings) is None:
        start(settings, _datadir(settings), port, log_file(settings))
    create_database(settings, settings.database.local_pg_database)
    return status(settings)


def start(
    settings: Settings, datadir: Path, port: int, log: Path, options: str = "", setting: str = "GRIDGOV_LOCAL_PG_PORT"
) -> None:
    """Start the cluster in ``datadir`` on ``port`` (loopback only; ``setting`` names it), its server log in ``log``."""
    if port_open("127.0.0.1", port):
        raise ServiceError(f"port {port} is taken by another program; set {setting}")
    # track_commit_timestamp lets the pipeline benchmark time POST → commit exactly.
    server = f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c track_commit_timestamp=on"
    command = [bin_path(settings, "pg_ctl"), "-D", str(datadir), "-o", f"{server} {options}"]
    run(as_owner([*command, "-l", str(log), "-w", "-t", "60", "start"]), f"starting PostgreSQL on port {port}", log)


def stop(settings: Settings, datadir: Path, log: Path) -> None:
    """Stop the cluster in ``datadir`` (fast: open sessions are ended)."""
    run(
        as_owner([bin_path(settings, "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"]),
        "stopping PostgreSQL",
        log,
    )


def _admin_conninfo(settings: Settings, dbname: str = "postgres") -> str:
    return f"host=127.0.0.1 port={settings.database.local_pg_port} user=postgres dbname={dbname}"


def create_database(settings: Settings, name: str, *, fresh: bool = False) -> None:
    """Create database ``name`` on the local cluster with PostGIS; ``fresh`` drops it first."""
    with psycopg.connect(_admin_conninfo(settings), autocommit=True) as conn:
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            # From template0 with a CJK-aware character type, whatever the cluster was made with (migration 0023).
            conn.execute(
                sql.SQL(
                    "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
                ).format(sql.Identifier(name))
            )
    with psycopg.connect(_admin_conninfo(settings, name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def drop_database(settings: Settings, name: str) -> None:
    """Drop database ``name`` from the local cluster."""
    with psycopg.connect(_admin_conninfo(settings), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def down(settings: Settings) -> bool:
    """Stop the local cluster if it runs; True when it was stopped."""
    if not settings.database.is_local or pid(settings) is None:
        return False
    stop(settings, _datadir(settings), log_file(settings))
    return True


def remove(settings: Settings) -> bool:
    """Delete the local cluster's files (stopped first); True when there were any."""
    down(settings)
    where = home(settings)
    if not where.exists():
        return False
    shutil.rmtree(where)
    return True


def status(settings: Settings) -> ServiceStatus:
    """Whether the database answers a query."""
    url = settings.database.url
    address = url.split("@")[-1]
    try:
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            version = conn.execute("SELECT postgis_lib_version()").fetchone()
        return ServiceStatus(
            NAME, address, True, settings.database.is_local, f"PostGIS {version[0] if version else '?'}"
        )
    except psycopg.Error as exc:
        return ServiceStatus(NAME, address, False, settings.database.is_local, str(exc).splitlines()[0])
