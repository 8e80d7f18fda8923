"""Project: where a schema's migrations, data generator, profiles and anchors live.

A project is described by `project.toml` in its fixtures directory; the engine knows nothing
else about the schema under test."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.project.advising import AdviseSettings, read_advise
from harness.project.alembic_ini import read_alembic_ini
from harness.project.distribution import Distribution, read_distribution
from harness.project.tomlfields import FieldReader

if TYPE_CHECKING:
    from harness.build.datagen import Generator

MANIFEST = "project.toml"
_TOP_KEYS = {"schema", "data", "checks", "anchors", "projection", "migration_check",
             "mutation_proof", "capacity_review", "advise",
             "distribution"}


@dataclass(frozen=True)
class CheckDefaults:
    """Thresholds that apply to every scenario unless it says otherwise."""

    seq_scan_min_rows: int = 10_000
    misestimate_factor: float = 10.0
    # the noise canary's median on the machine the latency budgets were measured on
    # (plan-harness budgets writes it): a run divides its own slowdown against it out
    canary_ms: float | None = None


@dataclass(frozen=True)
class Bound:
    """The accepted range of one profile data parameter; the generator declares these."""

    minimum: float
    maximum: float
    integer: bool = True


@dataclass(frozen=True)
class Projected:
    """A scale that is never built: the statistics of the built profile `source`, captured
    and multiplied by `scale`, are loaded into the built profile `onto` and planned there."""

    source: str
    scale: float
    onto: str
    tables: Mapping[str, float] = field(default_factory=dict)  # tables scaled otherwise
    # a committed statistics file of `source` (captured and checked before), instead of
    # building `source` to capture it
    stats: Path | None = None


@dataclass(frozen=True)
class Profile:
    """A named scale: the data parameters the generator takes and planner settings to pin,
    or, for a projected profile, where its statistics come from."""

    name: str
    description: str
    data: Mapping[str, int | float]
    planner: Mapping[str, str]
    projected: Projected | None = None


@dataclass(frozen=True)
class Claim:
    """What a design document says an index costs, quoted as written."""

    bytes_per_row: float
    total: str


@dataclass(frozen=True)
class EndpointClaim:
    """What a design document says an endpoint gains from the indexes, quoted as written."""

    speedup: str
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class Projection:
    """Row counts to project measured sizes to, and a design document's claims to show beside
    the measurements: index sizes, and per endpoint the speed-up the indexes should bring."""

    label: str = ""
    rows: Mapping[str, int] = field(default_factory=dict)
    claims: Mapping[str, Claim] = field(default_factory=dict)
    endpoints: Mapping[str, EndpointClaim] = field(default_factory=dict)


@dataclass(frozen=True)
class CapacityWrites:
    """[capacity_review]: the table the application writes to, the rows its writes copy
    (`source`, kept in the temporary table capacity_source with a row number `n`), the
    INSERT it repeats (one row per execution, row `%(n)s` of capacity_source), and one
    statement standing for a period of its inserts."""

    table: str
    source: str
    writer: str
    growth: str
    growth_period: str = "a period of inserts"
    write_rows: int = 5000
    write_rounds: int = 3


@dataclass(frozen=True)
class Project:
    fixtures_dir: Path
    scenarios_dir: Path
    migrations_dir: Path
    load_revision: str
    generator_path: Path
    profiles_path: Path
    anchors: Mapping[str, str]
    checks: CheckDefaults
    projection: Projection = Projection()
    # an INSERT the migration check repeats while the migrations run (--plans-migration-check)
    migration_writer: str = ""
    # indexes the mutation proof drops one at a time (harness.workflows.mutation)
    mutation_indexes: tuple[str, ...] = ()
    # how the application writes, for the capacity review's write cost and index growth
    capacity_writes: CapacityWrites | None = None
    # proposed indexes and budgets for `plan-harness advise` (harness.project.advising)
    advise: AdviseSettings = field(default_factory=AdviseSettings)
    # the application's own alembic.ini (harness.project.alembic_ini), if project.toml names it
    alembic_ini: Path | None = None
    # where the tables live on a sharded cluster ([distribution]; harness.project.distribution)
    distribution: Distribution | None = None
    # the generator module and the profiles, loaded on first use and then kept for the run
    _loaded: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                    compare=False)

    @property
    def manifest(self) -> Path:
        """The project file (project.toml) that errors about anchors and settings name."""
        return self.fixtures_dir / MANIFEST

    def generator(self) -> Generator:
        if "generator" not in self._loaded:
            self._loaded["generator"] = import_generator(self.generator_path)
        module: Generator = self._loaded["generator"]
        return module

    def profiles(self) -> dict[str, Profile]:
        if "profiles" not in self._loaded:
            self._loaded["profiles"] = read_profiles(self.profiles_path,
                                                     generator_bounds(self.generator()))
        profiles: dict[str, Profile] = self._loaded["profiles"]
        return profiles

    def profile(self, name: str) -> Profile:
        profiles = self.profiles()
        if name not in profiles:
            raise ConfigError(
                f"unknown profile {name!r} (known in {self.profiles_path}: "
                f"{', '.join(sorted(profiles))})"
            )
        return profiles[name]


def read_project(fixtures_dir: Path, scenarios_dir: Path) -> Project:
    path = fixtures_dir / MANIFEST
    reader = FieldReader.load(path, ConfigError)
    doc = reader.data
    reader.reject_unknown(doc, _TOP_KEYS, "")
    schema = reader.table(doc, "schema", "schema")
    reader.reject_unknown(schema, {"migrations", "load_revision", "alembic_ini"}, "schema")
    data = reader.table(doc, "data", "data")
    reader.reject_unknown(data, {"generator", "profiles"}, "data")
    checks = reader.table(doc, "checks", "checks", default={})
    reader.reject_unknown(checks, {"seq_scan_min_rows", "misestimate_factor", "canary_ms"},
                          "checks")
    anchors = reader.table(doc, "anchors", "anchors", default={})
    for name in anchors:
        reader.get(anchors, name, str, "anchors")
    defaults = CheckDefaults()
    project = Project(
        fixtures_dir=fixtures_dir,
        scenarios_dir=scenarios_dir,
        migrations_dir=fixtures_dir / reader.get(schema, "migrations", str, "schema"),
        load_revision=reader.get(schema, "load_revision", str, "schema"),
        generator_path=fixtures_dir / reader.get(data, "generator", str, "data"),
        profiles_path=fixtures_dir / reader.get(data, "profiles", str, "data"),
        anchors=dict(anchors),
        checks=CheckDefaults(
            seq_scan_min_rows=reader.get(
                checks, "seq_scan_min_rows", int, "checks", default=defaults.seq_scan_min_rows
            ),
            misestimate_factor=reader.get(
                checks, "misestimate_factor", float, "checks", default=defaults.misestimate_factor
            ),
            canary_ms=_canary_ms(reader, checks),
        ),
        projection=_projection(reader, reader.table(doc, "projection", "projection",
                                                    default={})),
        migration_writer=_migration_writer(reader, doc),
        mutation_indexes=_mutation_indexes(reader, doc),
        capacity_writes=_capacity_writes(reader, doc),
        advise=read_advise(reader, doc),
        distribution=read_distribution(path, doc),
    )
    for where, target in (
        ("schema.migrations", project.migrations_dir),
        ("data.generator", project.generator_path),
        ("data.profiles", project.profiles_path),
    ):
        if not target.exists():
            raise reader.fail(where, f"{target} does not exist")
    return replace(project, alembic_ini=read_alembic_ini(reader, schema, fixtures_dir,
                                                         project.migrations_dir))


def _canary_ms(reader: FieldReader, checks: Mapping[str, Any]) -> float | None:
    value = reader.get(checks, "canary_ms", float, "checks", default=None)
    if value is not None and value <= 0:
        raise reader.fail("checks.canary_ms", "must be positive")
    return value


def _projection(reader: FieldReader, table: Mapping[str, Any]) -> Projection:
    reader.reject_unknown(table, {"label", "rows", "claims", "endpoints"}, "projection")
    rows = reader.table(table, "rows", "projection", default={})
    for name in rows:
        if reader.get(rows, name, int, "projection.rows") <= 0:
            raise reader.fail(f"projection.rows.{name}", "must be positive")
    claims = {}
    for index, raw in reader.table(table, "claims", "projection", default={}).items():
        where = f"projection.claims.{index}"
        if not isinstance(raw, dict):
            raise reader.fail(where, "must be a table")
        reader.reject_unknown(raw, {"bytes_per_row", "total"}, where)
        claims[index] = Claim(reader.get(raw, "bytes_per_row", float, where),
                              reader.get(raw, "total", str, where))
    endpoints = {}
    for endpoint, raw in reader.table(table, "endpoints", "projection", default={}).items():
        where = f"projection.endpoints.{endpoint}"
        if not isinstance(raw, dict):
            raise reader.fail(where, "must be a table")
        reader.reject_unknown(raw, {"speedup", "before", "after"}, where)
        endpoints[endpoint] = EndpointClaim(
            speedup=reader.get(raw, "speedup", str, where),
            before=reader.get(raw, "before", str, where, default=""),
            after=reader.get(raw, "after", str, where, default=""),
        )
    return Projection(reader.get(table, "label", str, "projection", default=""), dict(rows),
                      claims, endpoints)


def _migration_writer(reader: FieldReader, doc: Mapping[str, Any]) -> str:
    table = reader.table(doc, "migration_check", "migration_check", default={})
    reader.reject_unknown(table, {"writer"}, "migration_check")
    writer = reader.get(table, "writer", str, "migration_check", default="")
    if "writer" in table and not writer.strip():
        raise reader.fail("migration_check.writer", "is empty")
    return writer


def _capacity_writes(reader: FieldReader, doc: Mapping[str, Any]) -> CapacityWrites | None:
    where = "capacity_review"
    table = reader.table(doc, where, where, default={})
    if not table:
        return None
    reader.reject_unknown(table, {"table", "source", "writer", "growth", "growth_period",
                                  "write_rows", "write_rounds"}, where)
    defaults = CapacityWrites("", "", "", "")
    writes = CapacityWrites(
        table=reader.get(table, "table", str, where),
        source=reader.get(table, "source", str, where),
        writer=reader.get(table, "writer", str, where),
        growth=reader.get(table, "growth", str, where),
        growth_period=reader.get(table, "growth_period", str, where,
                                 default=defaults.growth_period),
        write_rows=reader.get(table, "write_rows", int, where, default=defaults.write_rows),
        write_rounds=reader.get(table, "write_rounds", int, where,
                                default=defaults.write_rounds),
    )
    for name in ("table", "source", "writer", "growth"):
        if not getattr(writes, name).strip():
            raise reader.fail(f"{where}.{name}", "is empty")
    if "%(n)s" not in writes.writer:
        raise reader.fail(f"{where}.writer", "must copy row %(n)s of capacity_source (the "
                          "rows of `source`, numbered from 1)")
    for name in ("write_rows", "write_rounds"):
        if getattr(writes, name) < 1:
            raise reader.fail(f"{where}.{name}", f"must be at least 1, not {getattr(writes, name)}")
    return writes


def _mutation_indexes(reader: FieldReader, doc: Mapping[str, Any]) -> tuple[str, ...]:
    table = reader.table(doc, "mutation_proof", "mutation_proof", default={})
    reader.reject_unknown(table, {"indexes"}, "mutation_proof")
    names = reader.get(table, "indexes", list, "mutation_proof", default=[])
    if not all(isinstance(n, str) and n for n in names):
        raise reader.fail("mutation_proof.indexes", "must be a list of index names")
    return tuple(names)


def import_generator(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"plan_harness_generator_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot load the data generator")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the generator's own code: any error is the user's to fix
        raise ConfigError(f"{path}: the data generator does not import: "
                          f"{_first_line(exc)}") from None
    for attribute in ("PARAMETERS", "VERSION", "generate"):
        if not hasattr(module, attribute):
            raise ConfigError(f"{path}: the data generator defines no {attribute}")
    return module


def _first_line(exc: BaseException) -> str:
    """`SyntaxError: invalid syntax (datagen.py, line 3)`: the kind and the first line."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def generator_bounds(module: ModuleType | Generator) -> Mapping[str, Bound]:
    bounds: Mapping[str, Bound] = module.PARAMETERS
    return bounds


def read_profiles(path: Path, bounds: Mapping[str, Bound]) -> dict[str, Profile]:
    reader = FieldReader.load(path, ConfigError)
    profiles = {name: _profile(reader, name, raw, bounds) for name, raw in reader.data.items()}
    for profile in profiles.values():
        if profile.projected is not None:
            for key, named in (("from", profile.projected.source),
                               ("onto", profile.projected.onto)):
                other = profiles.get(named)
                if other is None or other.projected is not None:
                    raise reader.fail(f"{profile.name}.projected.{key}",
                                      f"{named!r} is not a built profile of {path.name}")
    return profiles


def _profile(reader: FieldReader, name: str, raw: Any, bounds: Mapping[str, Bound]) -> Profile:
    if not isinstance(raw, dict):
        raise reader.fail(name, "must be a table")
    if "projected" in raw:
        reader.reject_unknown(raw, {"description", "projected"}, name)
        table = reader.table(raw, "projected", name)
        reader.reject_unknown(table, {"from", "scale", "onto", "tables", "stats"},
                              f"{name}.projected")
        scale = _positive(reader, table, "scale", f"{name}.projected")
        per_table = reader.table(table, "tables", f"{name}.projected", default={})
        return Profile(name, reader.get(raw, "description", str, name, default=""), {}, {},
                       Projected(reader.get(table, "from", str, f"{name}.projected"), scale,
                                 reader.get(table, "onto", str, f"{name}.projected"),
                                 {key: _positive(reader, per_table, key,
                                                 f"{name}.projected.tables")
                                  for key in per_table},
                                 _stats_file(reader, table, f"{name}.projected")))
    reader.reject_unknown(raw, {"description", "data", "planner"}, name)
    data = reader.table(raw, "data", name)
    reader.reject_unknown(data, set(bounds), f"{name}.data")
    values: dict[str, int | float] = {}
    for key, bound in bounds.items():
        kind: type[Any] = int if bound.integer else float
        value = reader.get(data, key, kind, f"{name}.data")
        if not bound.minimum <= value <= bound.maximum:
            raise reader.fail(
                f"{name}.data.{key}",
                f"{value} is outside the accepted range {bound.minimum:g}..{bound.maximum:g}",
            )
        values[key] = value
    planner = reader.table(raw, "planner", name, default={})
    for key, value in planner.items():
        if not isinstance(value, str | int | float | bool):
            raise reader.fail(f"{name}.planner.{key}", f"must be a plain value, not {value!r}")
    return Profile(
        name=name,
        description=reader.get(raw, "description", str, name, default=""),
        data=values,
        planner={k: _setting_text(v) for k, v in planner.items()},
    )


def _stats_file(reader: FieldReader, table: Mapping[str, Any], where: str) -> Path | None:
    """`stats`, a statistics file relative to the profiles file; it must exist."""
    if "stats" not in table:
        return None
    path = reader.path.parent / reader.get(table, "stats", str, where)
    if not path.is_file():
        raise reader.fail(f"{where}.stats", f"{path} does not exist")
    return path


def _positive(reader: FieldReader, table: Mapping[str, Any], key: str, where: str) -> float:
    value = reader.get(table, key, float, where)
    if value <= 0:
        raise reader.fail(f"{where}.{key}", f"{value} is not above 0")
    return value


def _setting_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
