"""The testcontainers provider: a PostgreSQL container of a pinned image (needs a Docker
engine, found as testcontainers finds it)."""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

from harness.errors import DockerUnavailable, ProvisioningError
from harness.server.providers import DEFAULT_CONTAINER_IMAGE, Provider, register
from harness.server.provisioning import ServerHandle, ServerInfo, first_line


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
            raise ProvisioningError(f"could not start {self._image}: {first_line(exc)}") from None
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
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else first_line(exc)
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


@register
class ContainerProvider(Provider):
    name = "testcontainers"

    def server(self) -> ServerHandle:
        return ContainerServer(self.options.image)
