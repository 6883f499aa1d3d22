"""tfm's FOCUS mart side by side with the FinOps Foundation's converter on the real legacy CUR sample.

The converter (focus-converter 1.0.0) is installed on first use into its own virtualenv under
$TFM_TOOLS_DIR (default .tfm/tools/); the first run takes about a minute, later ones a few seconds.
Its known departures from FOCUS 1.2 are in dbt_project/focus_converter_differences.yml.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.conformance.focus_converter import (
    TOTAL_COLUMNS,
    compare,
    converter_daily_totals,
    load_differences,
    run_focus_converter,
    tfm_daily_totals,
)
from tests.conftest import LEGACY_CSV

SAMPLE_ROWS = 1281
SOURCE_FILE_LIKE = f"%{LEGACY_CSV.name}"


def raw_sample(sql: str) -> list[tuple]:
    """A query over the sample as DuckDB reads it on its own: every field as text, money cast to DECIMAL."""
    con = duckdb.connect()
    try:
        con.execute(
            f"CREATE VIEW cur AS SELECT * FROM read_csv('{LEGACY_CSV}', all_varchar = true, nullstr = [''])"
        )
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def converter_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_focus_converter(LEGACY_CSV, tmp_path_factory.mktemp("converter") / "focus", timeout=300)


@pytest.fixture(scope="module")
def converter_totals(converter_output: Path) -> pd.DataFrame:
    return converter_daily_totals(converter_output)


@pytest.fixture
def focus_mart_for_legacy_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[duckdb.DuckDBPyConnection]:
    """tfm's warehouse built from the legacy sample alone, opened read-only.

    Skips only while marts.fct_focus_charges does not exist; once it does, the comparison runs for real.
    """
    from orchestration.cli import run_build, run_ingest
    from orchestration.settings import Settings

    home = tmp_path / "tfm"
    monkeypatch.setenv("TFM_HOME", str(home))
    # Settings.prepare() writes these into os.environ; setting them here first lets monkeypatch undo that.
    monkeypatch.setenv("TFM_LANDING", str(home / "landing"))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("TFM_WAREHOUSE_PATH", str(home / "warehouse.duckdb"))
    settings = Settings.from_env()
    settings.prepare()
    shutil.copy2(LEGACY_CSV, settings.landing / LEGACY_CSV.name)

    assert run_ingest(settings) == []
    build_problems = run_build(settings)

    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'marts' AND table_name = 'fct_focus_charges'"
        ).fetchone()[0]
        if not exists:
            detail = f" (build: {'; '.join(build_problems)})" if build_problems else ""
            pytest.fail(f"marts.fct_focus_charges was not built{detail}")
        yield con
    finally:
        con.close()


# --- the converter, read right -------------------------------------------------------------------------


def test_converter_keeps_every_row_and_the_money_of_the_sample(converter_output, converter_totals):
    import pyarrow.parquet as pq

    files = sorted(converter_output.glob("*.parquet"))
    assert sum(pq.read_metadata(f).num_rows for f in files) == SAMPLE_ROWS
    assert list(converter_totals.columns) == TOTAL_COLUMNS
    assert converter_totals["rows"].sum() == SAMPLE_ROWS
    assert converter_totals.attrs["null_billed"] == converter_totals.attrs["null_effective"] == 0
    assert all(isinstance(v, Decimal) for v in converter_totals["billed_cost"])
    assert all(isinstance(v, date) for v in converter_totals["charge_date"])

    ((raw_rows, raw_cost),) = raw_sample(
        'SELECT count(*), sum(CAST("lineItem/UnblendedCost" AS DECIMAL(38, 18))) FROM cur'
    )
    billed = sum(converter_totals["billed_cost"], Decimal(0))
    effective = sum(converter_totals["effective_cost"], Decimal(0))
    assert raw_rows == SAMPLE_ROWS
    # No NetUnblendedCost, no commitments: both costs are UnblendedCost. Equal to the cent is the
    # requirement; equal exactly shows that the float round trip loses nothing on this file.
    assert round(billed, 2) == round(effective, 2) == round(raw_cost, 2) == Decimal("1.68")
    assert billed == effective == raw_cost


def test_converter_days_are_utc_days_of_usage_start(converter_totals):
    expected = raw_sample(
        """
        SELECT "lineItem/ProductCode", CAST(CAST("lineItem/UsageStartDate" AS TIMESTAMPTZ) AT TIME ZONE 'UTC'
               AS DATE), count(*)
        FROM cur GROUP BY ALL ORDER BY ALL
        """
    )
    got = sorted(
        zip(converter_totals["service_name"], converter_totals["charge_date"], converter_totals["rows"])
    )
    assert got == sorted(tuple(r) for r in expected)


def test_service_name_aliases_are_the_samples_product_names(converter_totals):
    pairs = raw_sample('SELECT DISTINCT "lineItem/ProductCode", "product/ProductName" FROM cur ORDER BY 1')
    codes = [code for code, _ in pairs]
    assert len(codes) == len(set(codes)), "a product code with two product names"
    aliases = load_differences()["service_name_aliases"]
    assert aliases == dict(pairs)
    assert set(converter_totals["service_name"]) == set(aliases)


def test_documented_differences_name_a_spec_rule():
    differences = load_differences()["differences"]
    assert differences
    for case in differences:
        assert {"id", "column", "converter", "spec_rule", "on_sample", "measures"} <= set(case), case
        assert set(case["measures"]) <= {"rows", "billed_cost", "effective_cost", "row_count"}


# --- compare() -----------------------------------------------------------------------------------------


def totals(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(
        [(s, date.fromisoformat(d), n, Decimal(b), Decimal(e)) for s, d, n, b, e in rows],
        columns=TOTAL_COLUMNS,
    )


ALIASES = {"service_name_aliases": {"AmazonS3": "Amazon Simple Storage Service"}, "differences": []}


def test_compare_matches_through_aliases_and_to_the_cent():
    converter = totals(("AmazonS3", "2023-11-01", 2, "1.004", "1.004"), ("awskms", "2023-11-02", 1, "0", "0"))
    tfm = totals(
        ("Amazon Simple Storage Service", "2023-11-01", 2, "1.0000001", "1.0049"),
        ("awskms", "2023-11-02", 1, "0.001", "0"),
    )
    assert compare(converter, tfm, ALIASES) == []


def test_compare_reports_a_cent_a_row_and_a_missing_day():
    converter = totals(("AmazonS3", "2023-11-01", 2, "1.00", "1.00"), ("AmazonS3", "2023-11-02", 1, "0", "0"))
    tfm = totals(("Amazon Simple Storage Service", "2023-11-01", 3, "1.01", "1.00"))
    problems = compare(converter, tfm, ALIASES)
    assert problems == [
        "Amazon Simple Storage Service 2023-11-01: rows converter 2 != tfm 3",
        "Amazon Simple Storage Service 2023-11-01: billed_cost converter 1.00 != tfm 1.01",
        "Amazon Simple Storage Service 2023-11-02: rows converter 1 != tfm 0",
    ]


def test_compare_excuses_only_what_a_documented_case_names():
    converter = totals(("AmazonS3", "2023-11-01", 1, "1.00", "1.00"), ("awskms", "2023-11-01", 1, "1", "1"))
    tfm = totals(("AmazonS3", "2023-11-01", 1, "1.00", "0.50"), ("awskms", "2023-11-01", 1, "1", "0.5"))
    documented = {
        **ALIASES,
        "differences": [
            {
                "id": "x",
                "measures": ["effective_cost"],
                "where": {"service_name": "Amazon Simple Storage Service"},
            }
        ],
    }
    assert compare(converter, tfm, documented) == [
        "awskms 2023-11-01: effective_cost converter 1.00 != tfm 0.50"
    ]


# --- tfm against the converter -------------------------------------------------------------------------


def test_tfm_focus_mart_matches_the_converter_on_the_legacy_sample(
    focus_mart_for_legacy_sample, converter_totals
):
    tfm = tfm_daily_totals(focus_mart_for_legacy_sample, SOURCE_FILE_LIKE)
    assert tfm["rows"].sum() > 0, (
        f"no row of marts.fct_focus_charges has x_source_file LIKE {SOURCE_FILE_LIKE!r}"
    )
    problems = compare(converter_totals, tfm, load_differences())
    assert problems == [], "\n".join(problems)
