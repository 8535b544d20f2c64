"""A streaming-replication standby of the project-local cluster, beside it (``gridgov services up --standby``).

It is made from a base backup of the running primary each time it starts (``pg_basebackup -R``,
WAL streamed with it): a standby that was stopped may need WAL the primary no longer keeps, and
a fresh copy of a local cluster takes seconds. It reads with ``hot_standby_feedback`` on, so a long
read on it is not cancelled by the primary's vacuum.
"""

import shutil
from pathlib import Path

import psycopg

from api.settings import Settings
from cli.local import postgres
from cli.local.service import ServiceError, ServiceStatus
from db.settings import local_url

NAME = "standby"


def _datadir(settings: Settings) -> Path:
    return postgres.home(settings) / "standby"


def log_file(settings: Settings) -> Path:
    """The standby's server log."""
    return postgres.home(settings) / "standby.log"


def url(settings: Settings) -> str:
    """SQLAlchemy URL of the project's database on the local standby (for ``GRIDGOV_DATABASE_READ_URL``)."""
    return local_url(settings.database.standby_port, settings.database.local_pg_database)


def pid(settings: Settings) -> int | None:
    """The standby's postmaster, if it runs."""
    return postgres.pid_in(_datadir(settings))


def up(settings: Settings) -> ServiceStatus:
    """Start the standby from a fresh base backup of the running local primary (idempotent while it runs)."""
    if not settings.database.is_local:
        raise ServiceError("a standby is started beside the local cluster only; set GRIDGOV_DATABASE_READ_URL instead")
    if postgres.pid(settings) is None:
        raise ServiceError("the local cluster is not running: start it first (gridgov services up)")
    if pid(settings) is None:
        datadir = _datadir(settings)
        shutil.rmtree(datadir, ignore_errors=True)
        primary = str(settings.database.local_pg_port)
        backup = [postgres.bin_path(settings, "pg_basebackup"), "-h", "127.0.0.1", "-p", primary, "-U", "postgres"]
        postgres.run(
            postgres.as_owner([*backup, "-D", str(datadir), "-R", "-X", "stream", "-c", "fast"]),
            f"base backup of the cluster on port {primary}",
        )
        port = settings.database.standby_port
        options = "-c hot_standby=on -c hot_standby_feedback=on"
        postgres.start(settings, datadir, port, log_file(settings), options, "GRIDGOV_LOCAL_STANDBY_PORT")
    return status(settings)


def down(settings: Settings) -> bool:
    """Stop the standby if it runs; True when it was stopped."""
    if pid(settings) is None:
        return False
    postgres.stop(settings, _datadir(settings), log_file(settings))
    return True


def remove(settings: Settings) -> bool:
    """Stop the standby and delete its files; True when there were any."""
    down(settings)
    datadir = _datadir(settings)
    if not datadir.exists():
        return False
    shutil.rmtree(datadir)
    return True


def status(settings: Settings) -> ServiceStatus:
    """Whether the standby answers, and how much WAL it has replayed behind the primary's receipt."""
    port = settings.database.standby_port
    address = f"127.0.0.1:{port}/{settings.database.local_pg_database}"
    try:
        conninfo = url(settings).replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            row = conn.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()").fetchone()
    except psycopg.Error as exc:
        return ServiceStatus(NAME, address, False, True, str(exc).splitlines()[0])
    recovering, replayed = row if row else (False, None)
    if not recovering:
        return ServiceStatus(NAME, address, False, True, "not in recovery: it is no standby")
    return ServiceStatus(NAME, address, True, True, f"replica of :{settings.database.local_pg_port}, at {replayed}")
