from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest.warehouse import connect, ensure_schema
from orchestration.settings import SAMPLES_DIR

LEGACY_CSV = SAMPLES_DIR / "aws-cur-legacy-focusconv" / "sample-anonymous-aws-export-dataset.csv"
ATHENA_OCT = SAMPLES_DIR / "aws-cur-athena-parquet/year=2018/month=10/Oct2018-WorkshopCUR-00001.snappy.parquet"
ATHENA_NOV = SAMPLES_DIR / "aws-cur-athena-parquet/year=2018/month=11/Nov2018-WorkshopCUR-00001.snappy.parquet"
FOCUS_CSV = SAMPLES_DIR / "focus-1.0-finops-sample" / "focus_sample.csv"


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path / "warehouse.duckdb")
    ensure_schema(connection)
    yield connection
    connection.close()


def put(landing: Path, source: Path, name: str | None = None) -> Path:
    """Copy a file into the landing folder (under an optional relative name)."""
    target = landing / (name or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return target


@pytest.fixture
def tfm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh TFM_HOME (warehouse, landing, Dagster instance) for tests that go through Dagster or the CLI."""
    from orchestration.settings import Settings

    home = tmp_path / "tfm"
    for name in ("TFM_LANDING", "DAGSTER_HOME", "TFM_WAREHOUSE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TFM_HOME", str(home))
    settings = Settings.from_env()
    settings.prepare()
    return settings


@contextmanager
def tfm_environment(home: Path):
    """Settings for a TFM_HOME, with the tfm environment variables set for the duration and restored after."""
    from orchestration.settings import Settings

    names = ("TFM_HOME", "TFM_LANDING", "DAGSTER_HOME", "TFM_WAREHOUSE_PATH", "DBT_TARGET_PATH")
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.pop(name, None)
    os.environ["TFM_HOME"] = str(home)
    try:
        settings = Settings.from_env()
        settings.prepare()
        yield settings
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def built_warehouse(home: Path, populate, close=None):
    """A TFM_HOME whose landing folder ``populate(settings)`` fills, ingested and built through Dagster.

    With ``close`` (billing periods as ``YYYY-MM``), the build ends by closing them, as ``tfm demo`` does.
    For module-scoped fixtures (see ``tfm_environment``).
    """
    from datetime import date

    from orchestration.cli import run_build, run_ingest

    with tfm_environment(home) as settings:
        populate(settings)
        assert run_ingest(settings) == []
        periods = [date.fromisoformat(f"{p}-01") for p in close or ()]
        assert run_build(settings, close=periods or None, closed_by="tests") == []
        yield settings


def query(settings, sql: str, params=()) -> list:
    """Rows of one read-only query against a built warehouse."""
    connection = connect(settings.warehouse, read_only=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory):
    """The demo's warehouse, built once per session (per xdist worker) as ``tfm demo`` builds it: the bundled real
    samples and the generated quarter with its business inputs landed, ingested, built, the quarter closed and
    the warehouse published. The tfm environment variables are restored once it is built: tests address it
    through the returned settings (``home``, ``warehouse``, ``published``)."""
    from orchestration.cli import DEMO_CLOSE, _copy_samples, _generate_demo_cur2

    def populate(settings):
        _copy_samples(settings)
        _generate_demo_cur2(settings)

    with built_warehouse(tmp_path_factory.mktemp("demo") / "tfm", populate, close=DEMO_CLOSE) as settings:
        pass
    return settings


def processes_of(home: Path) -> list[tuple[int, str]]:
    """Live processes started for this TFM_HOME (by their environment): tfm, tfm-dbt and their helpers."""
    marker = f"TFM_HOME={home}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes():
                continue
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2] in "ZX":  # exited, not reaped yet
                continue
            found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except OSError:
            continue
    return found


def dbt_children(home: Path) -> list[tuple[int, str]]:
    """The live dbt processes (``tfm-dbt``) started for this TFM_HOME."""
    return [(pid, cmd) for pid, cmd in processes_of(home) if "tfm-dbt" in cmd and "--version" not in cmd]
