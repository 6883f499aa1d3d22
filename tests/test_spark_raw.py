"""The raw layer Spark reads: a tfm warehouse's raw tables as parquet, one folder per billing period.

No Spark here (tests/test_spark.py builds on it): what the export writes is read back with DuckDB.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb
import pytest

from orchestration import spark_raw
from orchestration.quoting import q
from orchestration.spark_raw import export_raw_layer


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema raw; create schema ml; create schema marts")
    con.execute(
        "create table raw.bills (line_item_id varchar, cost decimal(38, 18), tags json, usage_start timestamp, "
        + q('it\'s "odd"')
        + " varchar, _billing_period date)"
    )
    con.execute("""
        insert into raw.bills values
          ('a', 0.000000000123456789, '{"team": "data"}', timestamp '2026-02-03 04:05:06', 'x', date '2026-02-01'),
          ('b', 12.5, null, timestamp '2026-02-28 23:59:59', 'y', date '2026-02-01'),
          ('c', -3.25, '{"team": "web"}', timestamp '2026-03-01 00:00:00', 'z', date '2026-03-01')
    """)
    con.execute('create table raw."acc""ounts" (account_id varchar, name varchar)')
    con.execute("insert into raw.\"acc\"\"ounts\" values ('1', 'Prod')")
    con.execute("create table raw.empty_bills (id varchar, _billing_period date)")
    con.execute("create table raw.prices (day date, amount decimal(38, 18))")
    con.execute("insert into raw.prices values (date '2026-03-02', 1.5)")
    # The Python models write their ml tables on Spark themselves: never exported.
    con.execute("create table ml.forecasts (day date, amount decimal(38, 18))")
    con.execute("create table marts.not_raw (x int)")
    con.close()
    return path


def _read(folder, columns="*"):
    return (
        duckdb.connect()
        .execute(
            f"select {columns} from read_parquet(?, hive_partitioning = true, hive_types_autocast = false)"
            " order by all",
            [str(folder / "**" / "*.parquet")],
        )
        .fetchall()
    )


def test_each_billing_period_is_one_folder_and_every_row_and_cost_survives(warehouse, tmp_path):
    out = tmp_path / "parquet"
    tables = {(t.schema, t.name): t for t in export_raw_layer(warehouse, out)}

    assert set(tables) == {
        ("raw", "bills"),
        ("raw", 'acc"ounts'),
        ("raw", "empty_bills"),
        ("raw", "prices"),
    }
    bills = tables[("raw", "bills")]
    assert bills.partitioned and bills.rows == 3
    assert sorted(p.name for p in (out / "raw" / "bills").iterdir()) == [
        "_billing_period=2026-02-01",
        "_billing_period=2026-03-01",
    ]
    rows = (
        duckdb.connect()
        .execute(
            "select line_item_id, cost, tags, _billing_period from read_parquet(?, hive_partitioning = true)"
            " order by 1",
            [str(out / "raw" / "bills" / "**" / "*.parquet")],
        )
        .fetchall()
    )
    assert [r[:2] for r in rows] == [
        ("a", Decimal("0.000000000123456789")),
        ("b", Decimal("12.500000000000000000")),
        ("c", Decimal("-3.250000000000000000")),
    ]
    assert rows[0][2] == '{"team": "data"}' and rows[1][2] is None  # JSON as text
    assert [r[3] for r in rows] == [date(2026, 2, 1), date(2026, 2, 1), date(2026, 3, 1)]
    # Names with quotes are data, not code: exported as they are.
    assert _read(out / "raw" / 'acc"ounts') == [("1", "Prod")]
    assert not tables[("raw", 'acc"ounts')].partitioned
    # An empty table is one file that carries its schema; other schemas are not exported.
    assert tables[("raw", "empty_bills")].rows == 0 and any((out / "raw" / "empty_bills").glob("*.parquet"))
    assert not (out / "marts").exists() and not (out / "ml").exists()


def test_timestamps_are_written_as_the_utc_instants_they_hold(warehouse, tmp_path):
    out = tmp_path / "parquet"
    export_raw_layer(warehouse, out)
    con = duckdb.connect()
    con.execute("set TimeZone = 'America/New_York'")
    (instant,) = con.execute(
        "select usage_start at time zone 'UTC' from read_parquet(?) where line_item_id = 'a'",
        [str(out / "raw" / "bills" / "**" / "*.parquet")],
    ).fetchone()
    assert str(instant) == "2026-02-03 04:05:06"


def test_a_restated_period_replaces_its_folder_and_a_failed_export_keeps_the_last_one(
    warehouse, tmp_path, monkeypatch
):
    out = tmp_path / "parquet"
    export_raw_layer(warehouse, out)
    con = duckdb.connect(str(warehouse))
    con.execute("delete from raw.bills where _billing_period = date '2026-02-01'")
    con.execute(
        "insert into raw.bills values ('b2', 99, null, timestamp '2026-02-10 00:00:00', 'q', date '2026-02-01')"
    )
    con.execute("insert into raw.prices values (date '2026-03-03', 2.5)")
    con.close()

    export_raw_layer(warehouse, out)
    assert [r[0] for r in _read(out / "raw" / "bills", "line_item_id")] == ["b2", "c"]
    assert not list(out.rglob("*.writing")) and not list(out.rglob("*.replaced"))

    # The next export fails on the last table, after the others were written: that table's dataset of the last
    # export stays whole and readable.
    before = _read(out / "raw" / "prices")
    real = spark_raw._select_list

    def broken(columns):
        if any(name == "amount" for name, _ in columns):
            return "no_such_column"
        return real(columns)

    monkeypatch.setattr(spark_raw, "_select_list", broken)
    with pytest.raises(duckdb.Error):
        export_raw_layer(warehouse, out)
    assert (
        _read(out / "raw" / "prices")
        == before
        == [
            (date(2026, 3, 2), Decimal("1.500000000000000000")),
            (date(2026, 3, 3), Decimal("2.500000000000000000")),
        ]
    )
