"""Bad input gets a clear one-line error naming file, line/row and column; nothing already loaded changes."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pytest

from orchestration.ingest.loader import load_pending, scan_landing
from tests.conftest import ATHENA_NOV, ATHENA_OCT, FOCUS_CSV, LEGACY_CSV, put


def rewrite_csv(source: Path, target: Path, edits: dict[tuple[int, str], str]) -> None:
    """Copy a CSV, changing cells: {(data row index from 0, header): new value}."""
    with open(source, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    for (index, column), value in edits.items():
        rows[index + 1][header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(buffer.getvalue(), encoding="utf-8")


def snapshot(con) -> list:
    """Everything already loaded: per table and period, rows and cost, and the ledger."""
    rows = []
    for table, cost in (
        ("aws_cur_legacy", "line_item_unblended_cost"),
        ("aws_cur_athena", "line_item_unblended_cost"),
        ("focus", "BilledCost"),
    ):
        rows += con.execute(
            f"SELECT '{table}', _billing_period, count(*), sum({cost}), min(_file_checksum) "
            f"FROM raw.{table} GROUP BY ALL ORDER BY 2"
        ).fetchall()
    rows += con.execute("SELECT * EXCLUDE (loaded_at) FROM meta.file_ledger ORDER BY ALL").fetchall()
    return rows


@pytest.fixture
def loaded(con, landing):
    """A warehouse with three periods loaded from real samples."""
    put(landing, LEGACY_CSV, "cur/legacy.csv")
    put(landing, FOCUS_CSV, "focus/focus.csv")
    scan_landing(con, landing)
    loads, problems = load_pending(con)
    assert problems == [] and len(loads) == 3  # FOCUS sample spans 2024-09 and one row of 2024-10
    return snapshot(con)


def rejected(con) -> dict[str, str]:
    return dict(con.execute("SELECT path, error FROM meta.landing_files WHERE status = 'rejected'").fetchall())


def ingest(con, landing) -> list[str]:
    scan_landing(con, landing)
    return load_pending(con)[1]


def assert_rejected_with(con, path: Path, *fragments: str) -> str:
    errors = rejected(con)
    error = errors[str(path.resolve())]
    assert str(path.resolve()) in error
    for fragment in fragments:
        assert fragment in error, error
    assert "\n" not in error
    return error


def test_corrupt_gzip(con, landing, loaded):
    data = gzip.compress(LEGACY_CSV.read_bytes())
    bad = landing / "cur" / "broken.csv.gz"
    bad.write_bytes(data[: len(data) // 2] + b"\x00garbage" * 50)
    put(landing, ATHENA_NOV, "athena/year=2018/month=11/nov.parquet")  # a good file arriving with it
    ingest(con, landing)
    assert_rejected_with(con, bad, "gzip")
    after = snapshot(con)
    assert all(row in after for row in loaded)
    assert con.execute("SELECT count(*) FROM raw.aws_cur_athena WHERE month(_billing_period) = 11").fetchone()[0] == 124_340


def test_truncated_parquet(con, landing, loaded):
    bad = landing / "athena" / "year=2018" / "month=10" / "oct.parquet"
    bad.parent.mkdir(parents=True)
    data = ATHENA_OCT.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    ingest(con, landing)
    assert_rejected_with(con, bad, "parquet")
    assert snapshot(con) == loaded


def test_csv_of_unknown_shape(con, landing, loaded):
    bad = landing / "misc" / "export.csv"
    bad.parent.mkdir()
    bad.write_text("date,team,amount\n2024-01-01,payments,12.5\n")
    ingest(con, landing)
    assert_rejected_with(con, bad, "unknown file shape", "date, team, amount")
    assert snapshot(con) == loaded


def test_non_numeric_cost_names_line_and_column(con, landing, loaded):
    bad = landing / "cur2" / "legacy-restated.csv"
    rewrite_csv(LEGACY_CSV, bad, {(40, "lineItem/UnblendedCost"): "12,34 USD", (40, "bill/PayerAccountId"): "1"})
    problems = ingest(con, landing)
    assert_rejected_with(con, bad, "line 42", "'lineItem/UnblendedCost'", "'12,34 USD'", "not a valid decimal")
    assert any("2023-11 kept as it was" in p for p in problems)
    assert snapshot(con) == loaded  # the period's other file stays loaded exactly as it was


def test_unparseable_date_names_line_and_column(con, landing, loaded):
    bad = landing / "other" / "legacy.csv"
    rewrite_csv(LEGACY_CSV, bad, {(99, "lineItem/UsageStartDate"): "31/11/2023 10h"})
    ingest(con, landing)
    assert_rejected_with(con, bad, "line 101", "'lineItem/UsageStartDate'", "not a valid date")
    assert snapshot(con) == loaded


def test_unparseable_billing_period_is_rejected_when_scanned(con, landing, loaded):
    bad = landing / "other" / "legacy.csv"
    rewrite_csv(LEGACY_CSV, bad, {(5, "bill/BillingPeriodStartDate"): "November"})
    ingest(con, landing)
    assert_rejected_with(con, bad, "line 7", "'bill/BillingPeriodStartDate'", "unparseable date")
    assert snapshot(con) == loaded


def test_cur_file_mixing_billing_periods(con, landing, loaded):
    bad = landing / "other" / "legacy.csv"
    rewrite_csv(LEGACY_CSV, bad, {(200, "bill/BillingPeriodStartDate"): "2023-12-01T00:00:00Z"})
    ingest(con, landing)
    assert_rejected_with(con, bad, "line 202", "mixes billing periods 2023-11 and 2023-12")
    assert snapshot(con) == loaded


def test_billing_account_mixing_currencies(con, landing, loaded):
    bad = landing / "other" / "legacy.csv"
    rewrite_csv(LEGACY_CSV, bad, {(10, "lineItem/CurrencyCode"): "EUR"})
    ingest(con, landing)
    assert_rejected_with(con, bad, "line 12", "mixes currencies USD and EUR", "'lineItem/CurrencyCode'")
    assert snapshot(con) == loaded


def test_a_restated_file_that_is_bad_keeps_the_period_as_it_was(con, landing, loaded):
    rewrite_csv(LEGACY_CSV, landing / "cur" / "legacy.csv", {(3, "lineItem/UnblendedCost"): "n/a"})
    problems = ingest(con, landing)
    assert any("kept as it was" in p for p in problems)
    assert snapshot(con) == loaded
    # Fixing the file loads the period again.
    put(landing, LEGACY_CSV, "cur/legacy.csv")
    (landing / "cur" / "legacy.csv").touch()
    assert ingest(con, landing) == []
    assert rejected(con) == {}


def test_a_corrupt_restatement_keeps_the_period_as_it_was(con, landing, loaded):
    target = landing / "cur" / "legacy.csv"
    target.write_bytes(b"\x00\x01not,a,csv" * 10)
    problems = ingest(con, landing)
    assert any("kept as it was" in p for p in problems)
    assert snapshot(con) == loaded


def test_a_rejected_period_is_not_retried_until_its_file_changes(con, landing, loaded):
    bad = landing / "other" / "legacy.csv"
    rewrite_csv(LEGACY_CSV, bad, {(1, "lineItem/UnblendedCost"): "x"})
    ingest(con, landing)
    report = scan_landing(con, landing)
    assert report.new == report.changed == []
    loads, problems = load_pending(con)
    assert loads == [] and len(problems) == 1
