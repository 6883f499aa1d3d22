"""A good period is loaded reading each file once; anything else falls back to the careful path, unchanged."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from orchestration.ingest import loader
from orchestration.ingest.loader import load_pending, scan_landing
from tests.conftest import ATHENA_OCT, LEGACY_CSV, put


def _no_careful_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args, **_kwargs):
        raise AssertionError("the careful path ran for a good period")

    monkeypatch.setattr(loader, "_validate", fail)


def test_a_large_csv_is_loaded_in_one_pass_with_each_row_at_its_line(con, landing, monkeypatch):
    """Large enough that DuckDB reads it in parallel blocks: every row still carries its own data row."""
    header, *lines = LEGACY_CSV.read_text(encoding="utf-8").splitlines()
    repeats = 50  # ~64,000 rows, ~50 MB
    target = landing / "big.csv"
    with open(target, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(header + "\n")
        number = 0
        for _ in range(repeats):
            for line in lines:
                number += 1
                fh.write(f"id{number}," + line.split(",", 1)[1] + "\n")
    _no_careful_path(monkeypatch)
    scan_landing(con, landing)
    loads, problems = load_pending(con)
    assert problems == []
    rows, matching, first, last = con.execute(
        "SELECT count(*), count(*) FILTER (identity_line_item_id = 'id' || _source_row), min(_source_row), "
        "max(_source_row) FROM raw.aws_cur_legacy"
    ).fetchone()
    assert rows == matching == last == number and first == 1
    ledger_rows, ledger_cost = con.execute("SELECT row_count, billed_cost FROM meta.file_ledger").fetchone()
    table_cost = con.execute("SELECT sum(line_item_unblended_cost) FROM raw.aws_cur_legacy").fetchone()[0]
    assert ledger_rows == number and ledger_cost == table_cost == loads[0].billed_cost
    assert isinstance(table_cost, Decimal)


def test_a_parquet_file_is_loaded_in_one_pass(con, landing, monkeypatch):
    put(landing, ATHENA_OCT)
    _no_careful_path(monkeypatch)
    scan_landing(con, landing)
    _loads, problems = load_pending(con)
    assert problems == []
    assert con.execute("SELECT min(_source_row) FROM raw.aws_cur_athena").fetchone()[0] == 1


def test_a_bad_value_falls_back_and_is_reported_with_its_line_and_nothing_changes(con, landing):
    put(landing, LEGACY_CSV, "cur.csv")
    scan_landing(con, landing)
    load_pending(con)
    before = con.execute("SELECT count(*), sum(line_item_unblended_cost) FROM raw.aws_cur_legacy").fetchone()
    with open(LEGACY_CSV, newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    rows[99][header.index("lineItem/UnblendedCost")] = "12;5"
    with open(landing / "cur.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *rows])
    scan_landing(con, landing)
    _loads, problems = load_pending(con)
    assert len(problems) == 1
    assert "cur.csv, line 101, column 'lineItem/UnblendedCost': '12;5' is not a valid" in problems[0]
    after = con.execute("SELECT count(*), sum(line_item_unblended_cost) FROM raw.aws_cur_legacy").fetchone()
    assert after == before
