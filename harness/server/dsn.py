"""The DSN provider: a server someone else runs, reached by a libpq DSN or URL; the harness
creates its own database there, or with --plans-allow-existing-db plans on the DSN's own."""

from __future__ import annotations

import psycopg

from harness.errors import ConfigError, ProvisioningError
from harness.server.citus import citus_version
from harness.server.providers import Provider, ServerOptions, register
from harness.server.provisioning import ServerHandle, ServerInfo, first_line, redact


class ExternalServer:
    """A server someone else runs, reached by DSN; the harness only checks it answers."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def __enter__(self) -> ServerInfo:
        try:
            with psycopg.connect(self._dsn, connect_timeout=5) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                citus = citus_version(conn)
        except psycopg.Error as exc:
            raise ProvisioningError(
                f"cannot connect to --plans-dsn {redact(self._dsn)}: {first_line(exc)}"
            ) from None
        version = row[0] if row else "?"
        if citus is not None:
            # one node's database on a coordinator would be judged as if it were the cluster
            raise ProvisioningError(
                f"the server at {redact(self._dsn)} loads Citus {citus}: plan on it with "
                "--plans-provider citus (the same --plans-dsn), which distributes the schema")
        return ServerInfo(self._dsn, f"PostgreSQL {version} at {redact(self._dsn)}")

    def __exit__(self, *exc: object) -> None:
        return None


@register
class DsnProvider(Provider):
    """A server by DSN. It may also hold a database the harness did not build (read-only
    planning on it), so its role and version are checked before anything is loaded."""

    name = "dsn"
    may_use_existing_database = True
    checks_role = True

    def __init__(self, options: ServerOptions) -> None:
        if not options.dsn:
            raise ConfigError("--plans-provider dsn needs --plans-dsn or PLAN_HARNESS_DSN")
        super().__init__(options)

    def server(self) -> ServerHandle:
        return ExternalServer(self.options.dsn)
