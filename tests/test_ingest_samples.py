"""Real public samples load completely: rows and cost match an independent read of the same file."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import duckdb
import pyarrow.parquet as pq
import pytest

from orchestration.ingest.loader import load_pending, period_states, scan_landing
from tests.conftest import ATHENA_NOV, ATHENA_OCT, FOCUS_CSV, LEGACY_CSV, put


def independent_totals(path, cost_column: str, reader: str) -> tuple[int, Decimal]:
    """Rows and cost of a file read by DuckDB's own auto-detecting reader, summed as exact decimals."""
    other = duckdb.connect()
    if reader == "csv":
        relation = f"read_csv_auto('{path}', all_varchar = true, nullstr = ['NULL', ''])"
    else:
        relation = f"read_parquet('{path}')"
    rows, cost = other.execute(
        f'SELECT count(*), sum(CAST("{cost_column}" AS DECIMAL(38, 18))) FROM {relation}'
    ).fetchone()
    return rows, Decimal(cost)


@pytest.mark.parametrize(
    ("sample", "family", "table_cost", "source_cost", "reader"),
    [
        (LEGACY_CSV, "aws_cur_legacy", "line_item_unblended_cost", "lineItem/UnblendedCost", "csv"),
        (ATHENA_OCT, "aws_cur_athena", "line_item_unblended_cost", "line_item_unblended_cost", "parquet"),
        (FOCUS_CSV, "focus", "BilledCost", "BilledCost", "csv"),
    ],
)
def test_sample_rows_and_cost_match_an_independent_read(con, landing, sample, family, table_cost, source_cost, reader):
    put(landing, sample)
    scan_landing(con, landing)
    loads, problems = load_pending(con)
    assert problems == []
    expected_rows, expected_cost = independent_totals(sample, source_cost, reader)
    rows, cost = con.execute(f'SELECT count(*), sum("{table_cost}") FROM raw.{family}').fetchone()
    assert rows == expected_rows
    assert cost == expected_cost  # exact: DECIMAL all the way, no float and no per-line rounding
    assert sum(load.rows for load in loads) == expected_rows


@pytest.mark.parametrize(("sample", "family"), [(LEGACY_CSV, "aws_cur_legacy"), (ATHENA_OCT, "aws_cur_athena")])
def test_each_raw_row_points_at_its_own_line_of_the_file(con, landing, sample, family):
    """_source_row is the 1-based data row of the file (CSV: the header not counted) the row was read from,
    whatever order the raw table stores rows in."""
    put(landing, sample)
    scan_landing(con, landing)
    load_pending(con)
    if sample.suffix == ".csv":
        with open(sample, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            ids, costs = header.index("identity/LineItemId"), header.index("lineItem/UnblendedCost")
            by_position = {line: (row[ids], Decimal(row[costs])) for line, row in enumerate(reader, start=1)}
    else:
        table = pq.read_table(sample, columns=["identity_line_item_id", "line_item_unblended_cost"]).to_pylist()
        by_position = {
            n: (r["identity_line_item_id"], Decimal(repr(r["line_item_unblended_cost"])))
            for n, r in enumerate(table, start=1)
        }
    rows = con.execute(
        f"SELECT _source_row, identity_line_item_id, line_item_unblended_cost FROM raw.{family}"
    ).fetchall()
    assert len(rows) == len(by_position)
    for position, line_item_id, cost in rows:
        expected_id, expected_cost = by_position[position]
        assert line_item_id == expected_id, position
        assert abs(cost - expected_cost) < Decimal("1e-12"), position


def test_identifiers_stay_strings_and_money_is_decimal(con, landing):
    put(landing, LEGACY_CSV)
    put(landing, FOCUS_CSV)
    scan_landing(con, landing)
    load_pending(con)
    types = dict(
        con.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw'"
        ).fetchall()
    )
    assert types["aws_cur_legacy.bill_payer_account_id"] == "VARCHAR"
    assert types["aws_cur_legacy.line_item_unblended_cost"] == "DECIMAL(38,18)"
    assert types["aws_cur_legacy.line_item_unblended_rate"] == "DECIMAL(38,18)"
    assert types["aws_cur_legacy.line_item_usage_start_date"] == "TIMESTAMP"
    assert types["focus.BillingAccountId"] == "VARCHAR"
    assert types["focus.EffectiveCost"] == "DECIMAL(38,18)"
    payer = con.execute("SELECT DISTINCT bill_payer_account_id FROM raw.aws_cur_legacy").fetchall()
    assert all(len(p[0]) == 12 for p in payer)


def test_focus_quirks_null_strings_and_datetimes_without_t_or_z(con, landing):
    put(landing, FOCUS_CSV)
    scan_landing(con, landing)
    load_pending(con)
    nulls, bad_strings, starts, version = con.execute(
        """
        SELECT count(*) FILTER (WHERE AvailabilityZone IS NULL),
               count(*) FILTER (WHERE AvailabilityZone = 'NULL' OR ChargeClass = 'NULL'),
               min(ChargePeriodStart), any_value(_focus_version)
        FROM raw.focus
        """
    ).fetchone()
    assert nulls > 0 and bad_strings == 0
    assert starts.year == 2024
    assert version == "1.0"
    # The extra column the export brings (without an x_ prefix) is kept.
    assert con.execute("SELECT count(*) FROM raw.focus WHERE \"Id\" IS NOT NULL").fetchone()[0] == 1000


def test_byte_order_mark_is_ignored(con, landing):
    bom = landing / "focus_with_bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + FOCUS_CSV.read_bytes())
    report = scan_landing(con, landing)
    assert report.rejected == {}
    _, problems = load_pending(con)
    assert problems == []
    assert con.execute("SELECT count(*) FROM raw.focus").fetchone()[0] == 1000


def test_legacy_resource_tags_and_lineage(con, landing):
    put(landing, ATHENA_OCT)
    scan_landing(con, landing)
    load_pending(con)
    tagged, source_rows, periods = con.execute(
        """
        SELECT count(*) FILTER (WHERE cardinality(resource_tags) > 0), count(DISTINCT _source_row),
               list(DISTINCT _billing_period)
        FROM raw.aws_cur_athena
        """
    ).fetchone()
    assert tagged > 0
    assert source_rows == 119_307
    assert periods == [date(2018, 10, 1)]
    keys = con.execute(
        "SELECT DISTINCT unnest(map_keys(resource_tags)) AS k FROM raw.aws_cur_athena ORDER BY k"
    ).fetchall()
    assert ("user_environment",) in keys


def test_reingest_of_unchanged_files_loads_nothing(con, landing):
    put(landing, LEGACY_CSV)
    put(landing, FOCUS_CSV)
    scan_landing(con, landing)
    first, _ = load_pending(con)
    assert {load.family for load in first} == {"aws_cur_legacy", "focus"}
    report = scan_landing(con, landing)
    assert report.new == report.changed == [] and report.unchanged == 2
    second, problems = load_pending(con)
    assert second == [] and problems == []
    assert not any(state.needs_load for state in period_states(con))


def test_schema_drift_across_athena_months_unions_columns(con, landing):
    put(landing, ATHENA_OCT, "year=2018/month=10/part.parquet")
    put(landing, ATHENA_NOV, "year=2018/month=11/part.parquet")
    scan_landing(con, landing)
    loads, problems = load_pending(con)
    assert problems == [] and len(loads) == 2
    by_month = dict(
        con.execute(
            "SELECT strftime(_billing_period, '%m'), count(product_category) FROM raw.aws_cur_athena GROUP BY 1"
        ).fetchall()
    )
    assert by_month["10"] == 0 and by_month["11"] > 0  # November's new product column, NULL for October
    nov_tag = con.execute(
        "SELECT count(*) FROM raw.aws_cur_athena WHERE resource_tags['user_tag21_nov'] IS NOT NULL"
    ).fetchone()[0]
    assert nov_tag > 0
    totals = dict(con.execute("SELECT strftime(_billing_period, '%m'), count(*) FROM raw.aws_cur_athena GROUP BY 1").fetchall())
    assert totals == {"10": 119_307, "11": 124_340}
