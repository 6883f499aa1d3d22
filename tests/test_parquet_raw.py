"""Ingest writes the raw layer as parquet too (TFM_RAW_PARQUET_DIR, tfm ingest --parquet-dir): one folder per
table and billing period, replaced whole when the period is, following the warehouse even after a failed write."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from orchestration import spark_raw
from orchestration.ingest import parquet_raw
from orchestration.ingest.loader import load_pending, scan_landing
from orchestration.ingest.warehouse import connect
from orchestration.quoting import lit, q
from tests.conftest import ATHENA_NOV, ATHENA_OCT, LEGACY_CSV, put

OCT, NOV = date(2018, 10, 1), date(2018, 11, 1)
LEGACY_NOV = date(2023, 11, 1)


@pytest.fixture
def settings(tfm_home, tmp_path, monkeypatch):
    """A TFM_HOME whose ingest also writes the parquet raw layer (to a folder outside it)."""
    out = (tmp_path / "parquet").resolve()
    monkeypatch.setenv("TFM_RAW_PARQUET_DIR", str(out))
    return dataclasses.replace(tfm_home, raw_parquet=out)


def _land(settings) -> dict[str, Path]:
    return {
        "oct": put(settings.landing, ATHENA_OCT, "athena/year=2018/month=10/oct.parquet"),
        "nov": put(settings.landing, ATHENA_NOV, "athena/year=2018/month=11/nov.parquet"),
        "legacy": put(settings.landing, LEGACY_CSV, "cur/20231101-20231201/legacy.csv"),
    }


def _ingest(settings, *, prune: bool = False) -> list[str]:
    from orchestration.cli import run_ingest

    return run_ingest(settings, prune=prune)


def _restate_nov(target: Path, rows: int) -> None:
    """The provider restates November: the same columns, fewer rows."""
    duckdb.connect().execute(
        f"copy (select * from read_parquet({lit(ATHENA_NOV)}, hive_partitioning = false) limit {int(rows)})"
        f" to {lit(target)} (format parquet)"
    )


def _decimals(con, table: str) -> list[str]:
    return [
        name
        for name, data_type in spark_raw.table_columns(con, "raw", table)
        if data_type.startswith("DECIMAL")
    ]


def _warehouse_periods(settings, table: str) -> dict[date, tuple]:
    """Per billing period of a raw table: its rows and the sum of each DECIMAL column, as DuckDB holds them."""
    con = connect(settings.warehouse, read_only=True)
    try:
        sums = "".join(f", sum({q(name)})" for name in _decimals(con, table))
        rows = con.execute(
            f"select _billing_period, count(*){sums} from raw.{q(table)} group by all order by all"
        ).fetchall()
    finally:
        con.close()
    return {row[0]: row[1:] for row in rows}


def _parquet_periods(settings, table: str) -> dict[date, tuple]:
    """The same, read from the parquet folders alone (the period from each folder's name, as Spark reads it)."""
    con = connect(settings.warehouse, read_only=True)
    try:
        decimals = _decimals(con, table)
    finally:
        con.close()
    sums = "".join(f", sum({q(name)})" for name in decimals)
    files = lit(settings.raw_parquet / "raw" / table / "*" / "*.parquet")
    rows = (
        duckdb.connect()
        .execute(
            f"select cast(_billing_period as date), count(*){sums} from read_parquet({files},"
            " hive_partitioning = true, hive_types_autocast = false) group by all order by all"
        )
        .fetchall()
    )
    return {row[0]: row[1:] for row in rows}


def _files(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under a folder: inode, modification time and content digest."""
    return {
        path.relative_to(folder).as_posix(): (
            path.stat().st_ino,
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _schemas(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """Each parquet file's columns and DuckDB types, by its path under the folder."""
    con = duckdb.connect()
    return {
        path.relative_to(folder).as_posix(): [
            (row[0], row[1])
            for row in con.execute(
                f"describe select * from read_parquet({lit(path)}, hive_partitioning = false)"
            ).fetchall()
        ]
        for path in sorted(folder.rglob("*.parquet"))
    }


def test_each_loaded_period_is_a_folder_holding_exactly_the_warehouse_rows(settings, tmp_path):
    _land(settings)
    assert _ingest(settings) == []
    out = settings.raw_parquet / "raw"

    for table, periods in (("aws_cur_athena", {OCT, NOV}), ("aws_cur_legacy", {LEGACY_NOV})):
        assert sorted(p.name for p in (out / table).iterdir()) == [
            f"_billing_period={period.isoformat()}" for period in sorted(periods)
        ]
        in_duckdb = _warehouse_periods(settings, table)
        assert set(in_duckdb) == periods
        # Rows and every DECIMAL column's sum, period by period: the same exact DECIMAL amounts.
        assert _parquet_periods(settings, table) == in_duckdb
        assert all(len(totals) > 2 for totals in in_duckdb.values())  # money columns were compared
    # Exactly what the Spark export writes: the same folders and files, each with the same columns and types
    # (JSON as text, TIMESTAMP as the UTC instant); the tables without a loaded period as one dataset each.
    exported = tmp_path / "export"
    spark_raw.export_raw_layer(settings.warehouse, exported)
    assert _schemas(out) == _schemas(exported / "raw")
    assert {p.name for p in out.iterdir()} == {p.name for p in (exported / "raw").iterdir()}
    assert not [p for p in settings.raw_parquet.rglob(".*")]  # no staging folder left behind

    # What was written is recorded with the ledger state it reflects.
    con = connect(settings.warehouse, read_only=True)
    try:
        recorded = con.execute(
            "select p.table_name, p.billing_period, p.row_count, p.loaded_at = l.loaded_at from meta.parquet_partitions p"
            " join (select source_family, billing_period, max(loaded_at) as loaded_at, sum(row_count) as rows"
            " from meta.file_ledger group by all) l"
            " on l.source_family = p.table_name and l.billing_period = p.billing_period and l.rows = p.row_count"
            " order by all"
        ).fetchall()
    finally:
        con.close()
    assert [(t, p, same) for t, p, _, same in recorded] == [
        ("aws_cur_athena", OCT, True),
        ("aws_cur_athena", NOV, True),
        ("aws_cur_legacy", LEGACY_NOV, True),
    ]
    # The raw asset wrote its period itself (what runs the landing sensor launches do), and says so.
    import dagster as dg

    records = (
        dg.DagsterInstance.get()
        .fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(["raw", "aws_cur_legacy"]), asset_partitions=["2023-11"]
            ),
            limit=1,
        )
        .records
    )
    parquet = records[0].asset_materialization.metadata["parquet_raw"].value
    assert parquet["written"] == ["raw.aws_cur_legacy"] and parquet["failures"] == []
    assert parquet["folder"] == str(settings.raw_parquet)
    # An ingest with nothing to load rewrites nothing.
    before = _files(settings.raw_parquet)
    assert _ingest(settings) == []
    assert _files(settings.raw_parquet) == before


def test_a_restated_period_replaces_its_folder_and_leaves_the_others_untouched(settings):
    landed = _land(settings)
    assert _ingest(settings) == []
    before = _files(settings.raw_parquet)
    nov_folder = "raw/aws_cur_athena/_billing_period=2018-11-01/"

    _restate_nov(landed["nov"], rows=300)
    assert _ingest(settings) == []

    after = _files(settings.raw_parquet)
    assert {k: v for k, v in after.items() if not k.startswith(nov_folder)} == {
        k: v for k, v in before.items() if not k.startswith(nov_folder)
    }
    assert [k for k in after if k.startswith(nov_folder)] == [f"{nov_folder}part_0.parquet"]
    assert after[f"{nov_folder}part_0.parquet"][2] != before[f"{nov_folder}part_0.parquet"][2]
    in_duckdb = _warehouse_periods(settings, "aws_cur_athena")
    assert in_duckdb[NOV][0] == 300
    assert _parquet_periods(settings, "aws_cur_athena") == in_duckdb


def test_a_failed_parquet_write_keeps_the_load_and_the_next_ingest_repairs_it(settings, monkeypatch):
    landed = _land(settings)
    assert _ingest(settings) == []
    written = _parquet_periods(settings, "aws_cur_athena")
    nov = settings.raw_parquet / "raw" / "aws_cur_athena" / "_billing_period=2018-11-01"

    real = spark_raw.write_dataset

    def disk_full(con, select, target, **options):
        # The disk fills up while the period's file is being written (after its first rows).
        failing = f"select * from ({select}) where error('IO Error: No space left on device') is null"
        return real(con, failing, target, **options)

    monkeypatch.setattr(parquet_raw, "write_dataset", disk_full)
    _restate_nov(landed["nov"], rows=250)
    problems = _ingest(settings)

    # The load stands: DuckDB holds the restated period.
    in_duckdb = _warehouse_periods(settings, "aws_cur_athena")
    assert in_duckdb[NOV][0] == 250 and in_duckdb[OCT] == written[OCT]
    # The failure names the table, the period and the folder; the old folder is whole and readable.
    assert len(problems) == 1, problems
    assert "raw.aws_cur_athena 2018-11" in problems[0] and str(nov) in problems[0]
    assert "No space left on device" in problems[0] and "next tfm ingest" in problems[0]
    assert _parquet_periods(settings, "aws_cur_athena") == written
    assert not [p for p in settings.raw_parquet.rglob(".*")]  # the half-written staging folder is gone
    con = connect(settings.warehouse, read_only=True)
    try:
        assert parquet_raw.pending_folders(con, settings.raw_parquet) == ["raw.aws_cur_athena 2018-11"]
    finally:
        con.close()
    with pytest.raises(RuntimeError, match="behind the warehouse"):
        parquet_raw.parquet_raw_tables(settings.warehouse, settings.raw_parquet)

    # The next ingest has nothing to load, notices the folder is behind and writes it.
    monkeypatch.setattr(parquet_raw, "write_dataset", real)
    assert _ingest(settings) == []
    assert _parquet_periods(settings, "aws_cur_athena") == in_duckdb
    assert not [p for p in settings.raw_parquet.rglob(".*")]
    tables = {t.name: t for t in parquet_raw.parquet_raw_tables(settings.warehouse, settings.raw_parquet)}
    athena = tables["aws_cur_athena"]
    assert athena.partitioned and athena.rows == sum(totals[0] for totals in in_duckdb.values())
    assert athena.location == str(settings.raw_parquet / "raw" / "aws_cur_athena")
    assert not tables["aws_cur2"].partitioned and tables["aws_cur2"].rows == 0


def test_a_pruned_period_folder_disappears(settings):
    landed = _land(settings)
    assert _ingest(settings) == []
    athena = settings.raw_parquet / "raw" / "aws_cur_athena"
    oct_files = _files(athena / "_billing_period=2018-10-01")

    landed["nov"].unlink()
    problems = _ingest(settings)
    assert len(problems) == 1 and "--prune" in problems[0]  # kept without --prune, and so is its folder
    assert (athena / "_billing_period=2018-11-01").is_dir()

    assert _ingest(settings, prune=True) == []
    assert sorted(p.name for p in athena.iterdir()) == ["_billing_period=2018-10-01"]
    assert _files(athena / "_billing_period=2018-10-01") == oct_files

    # The table's last period pruned: one empty dataset that carries its columns, as the export writes it.
    landed["oct"].unlink()
    assert _ingest(settings, prune=True) == []
    assert [p.name for p in athena.iterdir()] == ["part_0.parquet"]
    rows = duckdb.connect().execute(f"select count(*) from read_parquet({lit(athena / 'part_0.parquet')})")
    assert rows.fetchone()[0] == 0


def test_a_column_a_later_period_brings_is_in_every_period_file(con, landing, tmp_path):
    """A file that adds a column rewrites the table whole: Spark reads one schema from every file."""
    out = tmp_path / "parquet"
    put(landing, ATHENA_OCT, "year=2018/month=10/oct.parquet")
    scan_landing(con, landing)
    load_pending(con)
    assert parquet_raw.sync_raw_parquet(con, out).failures == []
    put(landing, ATHENA_NOV, "year=2018/month=11/nov.parquet")  # brings a column October lacks
    scan_landing(con, landing)
    load_pending(con)
    report = parquet_raw.sync_raw_parquet(con, out)
    assert report.written == ["raw.aws_cur_athena"] and report.failures == []
    schemas = _schemas(out / "raw" / "aws_cur_athena")
    assert len(schemas) == 2 and len({tuple(columns) for columns in schemas.values()}) == 1
    assert parquet_raw.sync_raw_parquet(con, out).written == []


def test_folder_and_table_names_reach_sql_quoted(con, landing, tmp_path):
    """A folder named with quotes, and a table whose name needs quoting, are written as they are."""
    put(landing, LEGACY_CSV, "legacy.csv")
    scan_landing(con, landing)
    assert load_pending(con)[1] == []
    name = 'it\'s "odd"'
    con.execute(f"create table raw.{q(name)} (id varchar, cost decimal(38, 18), _billing_period date)")
    con.execute(
        f"insert into raw.{q(name)} values ('a', 1.25, date '2023-11-01'), ('b', 2, date '2023-12-01')"
    )
    out = tmp_path / 'it\'s "a lake"'
    assert parquet_raw.sync_raw_parquet(con, out).failures == []
    legacy = lit(out / "raw" / "aws_cur_legacy" / "*" / "*.parquet")
    assert duckdb.connect().execute(f"select count(*) from read_parquet({legacy})").fetchone()[0] == 1281
    # Not a source family's table: written whole, as the export writes it (partitioned by its periods).
    odd = out / "raw" / name
    rows = duckdb.connect().execute(
        f"select id, cost from read_parquet({lit(odd / '*' / '*.parquet')}) order by id"
    )
    assert rows.fetchall() == [("a", Decimal("1.250000000000000000")), ("b", Decimal("2.000000000000000000"))]
    assert parquet_raw.sync_raw_parquet(con, out).written == []


def test_unset_writes_nothing_and_the_option_names_the_folder(tfm_home, tmp_path, monkeypatch):
    from orchestration.cli import main

    monkeypatch.setenv("TFM_RAW_PARQUET_DIR", "")  # unset (and restored after the command sets it)
    put(tfm_home.landing, LEGACY_CSV, "cur/20231101-20231201/legacy.csv")
    assert _ingest(tfm_home) == []
    con = connect(tfm_home.warehouse, read_only=True)
    try:
        tables = con.execute("select table_name from information_schema.tables where table_schema = 'meta'")
        assert "parquet_partitions" not in {row[0] for row in tables.fetchall()}
    finally:
        con.close()
    assert not list(tmp_path.rglob("_billing_period=*"))

    out = tmp_path / "lake"
    result = CliRunner().invoke(main, ["ingest", "--parquet-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert "parquet raw layer: 8 folder(s) written" in result.output
    assert [p.name for p in (out / "raw" / "aws_cur_legacy").iterdir()] == ["_billing_period=2023-11-01"]


def test_a_write_that_fails_leaves_the_old_folder_whole_and_no_staging(tmp_path):
    con = duckdb.connect()
    target = tmp_path / "raw" / "bills" / "_billing_period=2026-02-01"
    assert spark_raw.write_dataset(con, "select 1 as a union all select 2", target) == 2
    before = _files(target)
    with pytest.raises(duckdb.Error):
        spark_raw.write_dataset(
            con, "select a, case when a > 1 then error('disk full') end from range(3) t(a)", target
        )
    assert _files(target) == before
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    assert spark_raw.write_dataset(con, "select 3 as a", target) == 1
    assert duckdb.connect().execute(
        f"select a from read_parquet({lit(target / '*.parquet')})"
    ).fetchall() == [(3,)]
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_a_parquet_folder_inside_the_landing_folder_is_refused(tfm_home):
    from orchestration.settings import HomeError

    inside = dataclasses.replace(tfm_home, raw_parquet=tfm_home.landing / "lake")
    with pytest.raises(HomeError, match="overlap"):
        inside.prepare()
    assert not (tfm_home.landing / "lake").exists()


def test_a_folder_gone_from_the_parquet_layer_is_written_again(con, landing, tmp_path):
    put(landing, ATHENA_OCT, "year=2018/month=10/oct.parquet")
    put(landing, LEGACY_CSV, "cur/legacy.csv")
    scan_landing(con, landing)
    assert load_pending(con)[1] == []
    out = tmp_path / "parquet"
    assert parquet_raw.sync_raw_parquet(con, out).failures == []
    legacy = out / "raw" / "aws_cur_legacy" / "_billing_period=2023-11-01"
    oct_files = _files(out / "raw" / "aws_cur_athena")
    shutil.rmtree(legacy)  # a folder deleted by hand, or a share that was not mounted
    assert parquet_raw.pending_folders(con, out) == ["raw.aws_cur_legacy 2023-11"]
    assert parquet_raw.sync_raw_parquet(con, out).written == ["raw.aws_cur_legacy 2023-11"]
    files = lit(legacy / "*.parquet")
    assert duckdb.connect().execute(f"select count(*) from read_parquet({files})").fetchone()[0] == 1281
    assert _files(out / "raw" / "aws_cur_athena") == oct_files
