"""Errors the harness reports to people as one line, never as a traceback."""


class HarnessError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class ConfigError(HarnessError):
    """An option, profile or project file holds a value the harness cannot use."""


class ScenarioError(HarnessError):
    """A scenario file is malformed or refers to something that does not exist."""


class ProvisioningError(HarnessError):
    """No PostgreSQL server could be provided (unreachable DSN, no Docker, ...)."""


class DockerUnavailable(ProvisioningError):
    """The testcontainers provider found no usable Docker engine."""


class SchemaError(HarnessError):
    """Migrations could not be applied or the schema is not what was expected."""


class ReportError(HarnessError):
    """A results file cannot be read or rendered (missing, corrupt, unknown schema version)."""


class PlanError(HarnessError):
    """The server's EXPLAIN output is not a plan the harness can read (not JSON, no plan,
    a node without a type)."""
