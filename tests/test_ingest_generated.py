"""Generated files of every format load with their exact row counts and cost (known truth)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from orchestration.generator import GeneratorConfig, generate
from orchestration.ingest.loader import load_pending, scan_landing


@pytest.mark.parametrize(
    ("fmt", "file_format", "table", "cost"),
    [
        ("cur2", "parquet", "aws_cur2", "line_item_unblended_cost"),
        ("cur2", "csv", "aws_cur2", "line_item_unblended_cost"),
        ("cur-legacy-csv", "csv", "aws_cur_legacy", "line_item_unblended_cost"),
        ("focus-1.2", "parquet", "focus", "BilledCost"),
        ("focus-1.2", "csv", "focus", "BilledCost"),
    ],
)
def test_generated_months_load_exactly(con, tmp_path, fmt, file_format, table, cost):
    out = tmp_path / "generated"
    summary = generate(
        GeneratorConfig(out=out, fmt=fmt, months=2, rows=3_000, seed=11, start="2026-04", file_format=file_format)
    )
    report = scan_landing(con, out)
    # The labels and the reference accounts are neither bills nor business inputs: rejected, not loaded.
    assert sorted(Path(p).relative_to(out.resolve()).as_posix() for p in report.rejected) == [
        "labels/anomalies.csv", "reference/accounts.csv"
    ]
    loads, problems = load_pending(con)
    assert [p for p in problems if "kept as it was" in p] == []
    bills = {load.period.strftime("%Y-%m"): load.rows for load in loads if load.family == table}
    assert bills == summary.rows_per_period
    # The business inputs written beside the bill load too, each month its own period.
    business = {(load.family, load.period.strftime("%Y-%m")) for load in loads if load.family != table}
    assert business == {(f, p) for f in ("invoices", "unit_drivers", "sli_daily") for p in summary.rows_per_period}
    by_period = dict(
        con.execute(f"SELECT strftime(_billing_period, '%Y-%m'), sum({cost}) FROM raw.{table} GROUP BY 1").fetchall()
    )
    # Exact for text sources; parquet doubles convert exactly to DECIMAL(38,18), so differ from the
    # generator's decimal values by binary noise far below a cent.
    assert by_period.keys() == summary.cost_per_period.keys()
    for period, expected in summary.cost_per_period.items():
        assert abs(by_period[period] - expected) < Decimal("0.000001")
        if file_format == "csv":
            assert by_period[period] == expected


def test_cur2_maps_and_focus_tags_survive(con, tmp_path):
    out = tmp_path / "generated"
    generate(GeneratorConfig(out=out, fmt="cur2", months=1, rows=3_000, seed=3, start="2026-01"))
    scan_landing(con, out)
    load_pending(con)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'aws_cur2'"
        ).fetchall()
    )
    assert types["resource_tags"] == "MAP(VARCHAR, VARCHAR)"
    assert types["discount"] == "MAP(VARCHAR, DECIMAL(38,18))"
    tagged, teams = con.execute(
        "SELECT count(*) FILTER (WHERE cardinality(resource_tags) > 0), count(DISTINCT resource_tags['user_team']) "
        "FROM raw.aws_cur2"
    ).fetchone()
    assert tagged > 0 and teams > 1
