"""Where tfm keeps its files, read once from the environment.

``TFM_HOME`` (default ``./.tfm``) holds the warehouse (``warehouse.duckdb``), the landing folder
(``landing/``, overridable with ``TFM_LANDING``), the Dagster instance (``dagster/``, unless
``DAGSTER_HOME`` is set), dbt's artifacts and logs (``dbt/target/``: the parsed project, and one folder per
build, the last few kept) and tfm's log of failures (``logs/tfm.log``). Nothing is written into the source
tree. ``TFM_RAW_PARQUET_DIR`` (unset by default) names a folder where ingest also writes the raw layer as parquet
(``orchestration.ingest.parquet_raw``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"

# How many per-build dbt folders (artifacts and dbt.log) to keep under dbt/target.
KEEP_DBT_RUNS = 3

_DAGSTER_YAML_HEADER = """\
# Written by tfm. tfm adds its settings here when they are missing and keeps every key you set.
"""
# Each top-level block tfm needs, as written into a new dagster.yaml.
_DAGSTER_BLOCKS = {
    "run_queue": """\
# DuckDB takes one writer at a time, so runs are queued one by one.
run_queue:
  max_concurrent_runs: 1
""",
    "run_monitoring": """\
# The daemon fails runs stuck starting or canceling; tfm fails the runs whose process is gone.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 60
""",
    "telemetry": """\
telemetry:
  enabled: false
""",
}


class HomeError(RuntimeError):
    """A folder or file tfm keeps cannot be created, read or written; the message says what to do."""


@dataclass(frozen=True)
class Settings:
    home: Path
    landing: Path
    dagster_home: Path
    raw_parquet: Path | None = None  # TFM_RAW_PARQUET_DIR: ingest also writes the raw layer there as parquet

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target folder: the parsed project, and one sub-folder per build (artifacts and dbt.log)."""
        return self.home / "dbt" / "target"

    @property
    def published(self) -> Path:
        """The last audited copy of the warehouse: what analysts read (``tfm sql``), replaced atomically.

        It has the warehouse's file name, in its own folder: DuckDB names a database after its file, and the
        views dbt builds (all of ``staging``) name the warehouse's catalog, so they resolve in the copy too.
        """
        return self.home / "published" / self.warehouse.name

    @property
    def close_reports(self) -> Path:
        """One folder per billing period with its close reports (Markdown and HTML)."""
        return self.home / "close"

    @property
    def quality_dir(self) -> Path:
        """Great Expectations' stores (``gx/``: suites, validation results) and its Data Docs site."""
        return self.home / "quality"

    @property
    def data_docs(self) -> Path:
        """The GX Data Docs: every suite's latest validation results as static HTML (``index.html``)."""
        return self.quality_dir / "data_docs"

    @property
    def log_file(self) -> Path:
        """Where tfm writes the full trace of a failure it reported in one line."""
        return self.home / "logs" / "tfm.log"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("TFM_HOME") or ".tfm").expanduser().resolve()
        landing = Path(env.get("TFM_LANDING") or home / "landing").expanduser().resolve()
        dagster_home = Path(env.get("DAGSTER_HOME") or home / "dagster").expanduser().resolve()
        raw_parquet = env.get("TFM_RAW_PARQUET_DIR")
        return cls(
            home=home,
            landing=landing,
            dagster_home=dagster_home,
            raw_parquet=Path(raw_parquet).expanduser().resolve() if raw_parquet else None,
        )

    def prepare(self) -> None:
        """Create the folders, write tfm's Dagster settings, and point dbt and Dagster at them (environment).

        Raises :class:`HomeError` when a folder cannot be created or the Dagster settings cannot be written.
        """
        if self.raw_parquet is not None and (
            self.raw_parquet.is_relative_to(self.landing) or self.landing.is_relative_to(self.raw_parquet)
        ):
            raise HomeError(
                f"the parquet folder {self.raw_parquet} (TFM_RAW_PARQUET_DIR) and the landing folder "
                f"{self.landing} overlap: ingest would read the parquet it writes as billing files; choose a "
                "folder outside the landing folder"
            )
        folders = [self.home, self.dagster_home, self.dbt_target_dir, self.log_file.parent]
        # The default landing folder is created on first use. A landing folder named by TFM_LANDING or
        # --landing never is: a typo, or a share that is not mounted, must be an error, not an empty folder
        # that makes every loaded period look deleted.
        if self.landing == self.home / "landing":
            folders.append(self.landing)
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HomeError(
                    f"cannot create {folder}: {_reason(exc)}; {self._what_to_do(folder)}"
                ) from exc
        config = self.dagster_home / "dagster.yaml"
        try:
            merge_dagster_yaml(config)
        except OSError as exc:
            raise HomeError(f"cannot write {config}: {_reason(exc)}; {self._what_to_do(config)}") from exc
        os.environ["TFM_HOME"] = str(self.home)
        os.environ["TFM_LANDING"] = str(self.landing)
        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        os.environ["TFM_WAREHOUSE_PATH"] = str(self.warehouse)
        if self.raw_parquet is not None:
            os.environ["TFM_RAW_PARQUET_DIR"] = str(self.raw_parquet)
        # dagster-dbt puts each build's artifacts and dbt.log in a folder of its own under this one.
        os.environ["DBT_TARGET_PATH"] = str(self.dbt_target_dir)

    def _what_to_do(self, path: Path) -> str:
        for variable, folder in (("TFM_LANDING", self.landing), ("DAGSTER_HOME", self.dagster_home)):
            if path.is_relative_to(folder) and not folder.is_relative_to(self.home):
                return f"set {variable} to a folder you can write (or make this one writable)"
        return "set TFM_HOME to a folder you can write (or make this one writable)"


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def merge_dagster_yaml(path: Path) -> bool:
    """Write tfm's Dagster settings into ``path``, adding only what is missing. Returns True if it wrote.

    A new file gets every block. An existing file keeps its keys and values: missing top-level blocks are
    appended to its text (comments kept); when keys are missing inside a block it is rewritten from the
    merged settings, the previous version kept as ``dagster.yaml.bak``.
    """
    import yaml

    if not path.exists():
        _write_atomically(path, _DAGSTER_YAML_HEADER + "".join(_DAGSTER_BLOCKS.values()))
        return True
    text = path.read_text()
    try:
        current = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise HomeError(
            f"{path} is not valid YAML ({first}); fix it, or delete it for tfm to write a new one"
        ) from None
    if not isinstance(current, dict):
        raise HomeError(f"{path} is not a YAML mapping; fix it, or delete it for tfm to write a new one")
    defaults = {key: yaml.safe_load(block)[key] for key, block in _DAGSTER_BLOCKS.items()}
    missing_blocks = [key for key in defaults if key not in current]
    missing_keys = [
        sub
        for key in defaults
        if isinstance(current.get(key), dict)
        for sub in defaults[key]
        if sub not in current[key]
    ]
    if not missing_blocks and not missing_keys:
        return False
    if not missing_keys:
        separator = "\n" if text and not text.endswith("\n") else ""
        added = "".join(_DAGSTER_BLOCKS[key] for key in missing_blocks)
        _write_atomically(path, text + separator + "# Added by tfm.\n" + added)
        return True
    merged = dict(current)
    for key, values in defaults.items():
        if key not in merged:
            merged[key] = values
        elif isinstance(merged[key], dict):
            merged[key] = {**values, **merged[key]}
    _write_atomically(path.with_name(path.name + ".bak"), text)
    _write_atomically(path, _DAGSTER_YAML_HEADER + yaml.safe_dump(merged, sort_keys=False))
    return True


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


# DuckDB's own default is 80% of the machine's memory: a 10M-line-item month then took 19.5 of 24 GB. tfm gives
# every connection (ingest, dbt, the close, the Python models' reads) this much; DuckDB spills the rest to
# disk, in its own default folder beside the database (warehouse.duckdb.tmp/). TFM_MEMORY_LIMIT takes DuckDB's notation ("4GB", "512MB", "80%").
DEFAULT_MEMORY_LIMIT = "4GB"


def duckdb_memory_limit(env: Mapping[str, str] | None = None) -> str:
    """The memory DuckDB may use per connection: ``TFM_MEMORY_LIMIT``, else :data:`DEFAULT_MEMORY_LIMIT`."""
    env = os.environ if env is None else env
    return env.get("TFM_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def dbt_target(env: Mapping[str, str] | None = None) -> str:
    """The dbt target for this environment: ``TFM_DBT_TARGET`` if set, ``ci`` under CI, else ``dev``."""
    env = os.environ if env is None else env
    if env.get("TFM_DBT_TARGET"):
        return env["TFM_DBT_TARGET"]
    return "ci" if env.get("CI", "").lower() in ("1", "true", "yes") else "dev"
