"""What analysts take away from the warehouse: ``tfm export`` (a period's FOCUS dataset, which the FinOps
Foundation's validator accepts, and any public mart), ``tfm docs`` (every public mart and column described),
and the KPI scorecard's explanations (savings on two bases, low-volume unit costs, showback's unallocated row).

The refusals run on a small warehouse made here; the rest on the demo's (``demo_warehouse``)."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from orchestration.cli import main
from tests.conftest import query

CENT = Decimal("0.01")
PERIOD = "2026-02"


def tfm(home: Path, *args: str):
    environment = {
        "TFM_HOME": str(home),
        "TFM_LANDING": None,
        "DAGSTER_HOME": None,
        "TFM_WAREHOUSE_PATH": None,
    }
    return CliRunner().invoke(main, list(args), env=environment)


def cents(value) -> Decimal:
    return Decimal(value).quantize(CENT)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# --- exports: what is refused, on a small warehouse --------------------------------------------------------


@pytest.fixture(scope="module")
def small_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("exports") / "tfm"
    (home / "landing").mkdir(parents=True)
    (home / "published").mkdir()
    con = duckdb.connect(str(home / "published" / "warehouse.duckdb"))
    try:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE marts.fct_showback_monthly (billing_period_start DATE, team VARCHAR, "
            "total_cost DECIMAL(38, 18), x_tags MAP(VARCHAR, VARCHAR), details JSON)"
        )
        con.execute(
            "INSERT INTO marts.fct_showback_monthly VALUES "
            "(DATE '2026-01-01', 'a', 1.000000000000000001, MAP {'team': 'a'}, '{\"k\": 1}'), "
            "(DATE '2026-02-01', 'a', 2.5, MAP {'team': 'a'}, NULL), "
            "(DATE '2026-02-01', 'b''; drop table x; --', 0.000000000000000001, MAP {}, '[]')"
        )
        con.execute("CREATE TABLE marts.dim_teams AS SELECT 'a' AS team")
        con.execute("CREATE TABLE raw.secret AS SELECT 1 AS x")
    finally:
        con.close()
    return home


def test_a_mart_period_is_exported_exactly_as_parquet_and_csv(small_home, tmp_path):
    out = tmp_path / "exports"
    result = tfm(small_home, "export", "mart", "fct_showback_monthly", "--period", PERIOD, "--out", str(out))
    assert result.exit_code == 0, result.output
    parquet, text = out / "fct_showback_monthly_2026-02.parquet", out / "fct_showback_monthly_2026-02.csv"
    table = pq.read_table(parquet)
    assert table.num_rows == 2
    assert table.schema.field("total_cost").type == pa.decimal128(38, 18)
    assert pa.types.is_map(table.schema.field("x_tags").type)  # a mart keeps its nested columns in parquet
    assert table.schema.field("details").type == pa.string()  # JSON as text
    assert sorted(table.column("total_cost").to_pylist()) == [Decimal("1E-18"), Decimal("2.5")]
    rows = csv_rows(text)
    assert [r["team"] for r in rows] == ["a", "b'; drop table x; --"]
    assert rows[1]["total_cost"] == "0.000000000000000001"  # every digit
    assert json.loads(rows[0]["x_tags"]) == {"team": "a"}  # nested columns as JSON text in CSV
    assert not list(out.glob(".*"))  # no temporary file left

    # The whole mart, without --period, by its qualified name, one format.
    whole = tfm(
        small_home, "export", "mart", "marts.fct_showback_monthly", "--out", str(out), "--format", "csv"
    )
    assert whole.exit_code == 0, whole.output
    assert not (out / "fct_showback_monthly.parquet").exists()
    assert len(csv_rows(out / "fct_showback_monthly.csv")) == 3


def test_exports_refuse_what_they_must_not_write(small_home, tmp_path):
    out = tmp_path / "exports"
    args = ("export", "mart", "fct_showback_monthly", "--period", PERIOD, "--out", str(out))
    assert tfm(small_home, *args).exit_code == 0
    before = (out / "fct_showback_monthly_2026-02.csv").read_bytes()

    mart = ("export", "mart")
    cases = [
        (args, "already exists; use --force"),
        (
            (*mart, "fct_nope"),
            "no mart 'fct_nope' in the warehouse; the marts are: dim_teams, fct_showback_monthly",
        ),
        ((*mart, 'fct_showback_monthly"; DROP TABLE dim_teams; --'), "no mart"),
        ((*mart, 'marts"."dim_teams'), "not in a public schema"),
        ((*mart, "raw.secret"), "not in a public schema"),
        ((*mart, "dim_teams", "--period", PERIOD), "no billing period column"),
        ((*mart, "fct_showback_monthly", "--period", "2026-13"), "not a billing period"),
        ((*mart, "fct_showback_monthly", "--period", "2025-12"), "no rows for 2025-12"),
    ]
    for command, message in cases:
        result = tfm(small_home, *command, *(() if "--out" in command else ("--out", str(out))))
        assert result.exit_code == 1, (command, result.output)
        assert message in result.output, (command, result.output)
        assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    for folder, message in ((small_home / "exports", "inside $TFM_HOME"),
                            (small_home / "landing" / "x", "inside the landing folder")):  # fmt: skip
        result = tfm(small_home, *mart, "fct_showback_monthly", "--out", str(folder))
        assert result.exit_code == 1 and message in result.output, result.output
        assert not folder.exists()
    assert (out / "fct_showback_monthly_2026-02.csv").read_bytes() == before
    assert query_small(small_home, "SELECT count(*) FROM marts.dim_teams") == 1  # nothing ran from a name

    assert tfm(small_home, *args, "--force").exit_code == 0


def query_small(home: Path, sql: str):
    con = duckdb.connect(str(home / "published" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


# --- the FOCUS dataset of a demo month, validated -----------------------------------------------------------


def test_the_focus_export_of_a_demo_month_passes_the_finops_foundation_validator(demo_warehouse, tmp_path):
    """focus-validator 2.2.1 in its own Python 3.12 environment (the conformance harness's), all conditional
    rules on: no failed rule but those dbt_project/focus_validator_exceptions.yml lists with their reasons. The
    parquet and CSV files hold the mart's rows and cost, to the cent."""
    settings = demo_warehouse
    out = tmp_path / "focus"
    result = tfm(settings.home, "export", "focus", "--period", PERIOD, "--out", str(out), "--validate")
    assert result.exit_code == 0, result.output
    assert "focus-validator: accepted:" in result.output, result.output
    report = out / f"focus_{PERIOD}.validator-report.txt"
    assert "Total:" in report.read_text(encoding="utf-8")

    from orchestration.conformance.focus_validator import parse_console_report

    verdict = parse_console_report(report.read_text(encoding="utf-8"), report)
    assert verdict.total > 500 and verdict.passed > 300

    parquet, text = out / f"focus_{PERIOD}.parquet", out / f"focus_{PERIOD}.csv"
    schema = pq.read_schema(parquet)
    from orchestration.ingest.schema import FOCUS_1_2_COLUMNS

    assert schema.names[: len(FOCUS_1_2_COLUMNS)] == list(FOCUS_1_2_COLUMNS)
    assert all(name.startswith("x_") for name in schema.names[len(FOCUS_1_2_COLUMNS) :])
    for name in ("Tags", "SkuPriceDetails", "x_tags", "x_raw_tags"):
        assert schema.field(name).type == pa.string(), name
    assert schema.field("BilledCost").type == pa.decimal128(38, 18)
    assert schema.field("ChargePeriodStart").type == pa.timestamp("us", tz="UTC")

    [(rows, billed, effective)] = query(settings, """
        SELECT count(*), sum(BilledCost), sum(EffectiveCost) FROM marts.fct_focus_charges
        WHERE x_billing_period = DATE '2026-02-01'
    """)  # fmt: skip
    con = duckdb.connect()
    try:
        for source in (f"read_parquet('{parquet}')", f"read_csv('{text}', all_varchar = true)"):
            got = con.execute(
                f"SELECT count(*), sum(CAST(BilledCost AS DECIMAL(38, 18))), "
                f"sum(CAST(EffectiveCost AS DECIMAL(38, 18))), count(*) FILTER (WHERE json_valid(Tags) IS NOT TRUE "
                f"AND Tags IS NOT NULL) FROM {source}"
            ).fetchone()
            assert got[0] == rows > 10_000, source
            assert (cents(got[1]), cents(got[2])) == (cents(billed), cents(effective)), source
            assert got[3] == 0, source  # every Tags value is JSON
    finally:
        con.close()


# --- docs ---------------------------------------------------------------------------------------------------


def project_manifest() -> dict:
    from orchestration.defs.dbt import dbt_project

    return json.loads(Path(dbt_project.manifest_path).read_text(encoding="utf-8"))


def test_every_public_mart_and_column_is_described():
    from orchestration.docs import undocumented

    manifest = project_manifest()
    marts = [
        n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["schema"] == "marts"
    ]
    assert len(marts) >= 19
    assert undocumented(manifest) == []

    # The check finds a missing description: a mart's, a column's, and a built column the YAML does not list.
    node = next(n for n in marts if n["name"] == "fct_finops_kpis")
    node["description"] = " "
    node["columns"]["savings_basis"]["description"] = ""
    catalog = {"nodes": {node["unique_id"]: {"columns": {"SAVINGS_BASIS": {}, "extra_column": {}}}}}
    assert undocumented(manifest, catalog) == [
        "fct_finops_kpis",
        "fct_finops_kpis.savings_basis",
        "fct_finops_kpis.extra_column",
    ]


def test_tfm_docs_writes_a_static_site_with_every_mart(demo_warehouse, tmp_path):
    settings = demo_warehouse
    out = tmp_path / "docs"
    result = tfm(settings.home, "docs", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "have no description" not in result.output  # every mart column, as built, is described
    page = (out / "index.html").read_text(encoding="utf-8")
    catalog = json.loads((out / "catalog.json").read_text(encoding="utf-8"))
    marts = [name for (name,) in query(settings, "SELECT table_name FROM information_schema.tables "
                                                 "WHERE table_schema = 'marts'")]  # fmt: skip
    assert len(marts) >= 19
    for mart in marts:
        assert f"model.tfm.{mart}" in page, mart  # the manifest, inlined
        assert f"model.tfm.{mart}" in catalog["nodes"], mart  # the warehouse's catalog
    assert "Savings realized on the teams' basis" in page
    assert '"MANIFEST.JSON INLINE DATA"' not in page and '"CATALOG.JSON INLINE DATA"' not in page

    again = tfm(settings.home, "docs", "--out", str(out))
    assert again.exit_code == 1 and "already exists; use --force" in again.output
    inside = tfm(settings.home, "docs", "--out", str(settings.home / "site"))
    assert inside.exit_code == 1 and "inside $TFM_HOME" in inside.output


# --- the KPI scorecard explains itself ---------------------------------------------------------------------


def kpi_rows(settings, period: str = PERIOD) -> dict[str | None, dict]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        result = con.execute(
            "SELECT * FROM marts.fct_finops_kpis WHERE billing_period_start = ?", [f"{period}-01"]
        )
        names = [d[0] for d in result.description]
        return {row[names.index("team")]: dict(zip(names, row, strict=True)) for row in result.fetchall()}
    finally:
        con.close()


def test_team_savings_add_up_on_the_teams_basis_and_the_rest_is_unowned_usage(demo_warehouse):
    """Recomputed from the FOCUS charges and their direct owners: the organization's savings are the teams'
    (usage owned directly) plus what the usage nobody owns directly saved, less the unused commitments."""
    settings = demo_warehouse
    rows = kpi_rows(settings)
    organization = rows.pop(None)
    assert rows and all(r["savings_basis"].startswith("usage the team owns directly") for r in rows.values())
    assert organization["savings_basis"].startswith("all usage")
    assert all(r["direct_savings_realized"] == r["savings_realized"] for r in rows.values())
    assert organization["direct_savings_realized"] == sum(r["savings_realized"] for r in rows.values())

    [(owned, unowned)] = query(settings, """
        SELECT sum(savings) FILTER (WHERE team <> 'unallocated'), sum(savings) FILTER (WHERE team = 'unallocated')
        FROM (
            SELECT o.team,
                   CASE WHEN f.CommitmentDiscountStatus IS DISTINCT FROM 'Unused' THEN f.ListCost ELSE 0 END
                       - f.EffectiveCost AS savings
            FROM marts.fct_focus_charges AS f
            JOIN intermediate.int_charges_owned AS o USING (x_source_file, x_source_row, x_charge_origin)
            WHERE f.x_billing_period = DATE '2026-02-01' AND f.ChargeCategory = 'Usage'
              AND coalesce(f.x_line_item_type, '') <> 'SavingsPlanNegation'
        )
    """)  # fmt: skip
    assert cents(organization["direct_savings_realized"]) == cents(owned)
    assert cents(organization["savings_realized"]) == cents(owned + unowned)
    # The unused commitments outweigh what untagged usage saved: the organization saves less than its teams.
    assert unowned < 0


def test_a_team_with_tiny_volumes_gets_a_flagged_unit_cost(demo_warehouse):
    settings = demo_warehouse
    rows = kpi_rows(settings)
    organization = rows.pop(None)
    assert organization["low_transaction_volume"] is None and organization["transaction_share_pct"] == 100
    for team, row in rows.items():
        share = 100 * row["transactions"] / organization["transactions"]
        assert row["transaction_share_pct"] == pytest.approx(share), team
        assert row["low_transaction_volume"] is (share < 1), team
    assert rows["data"]["low_transaction_volume"] is True  # the analytics product: a few hundred a day
    assert [t for t, r in rows.items() if r["low_transaction_volume"]] == ["data"]


def test_showback_puts_the_unallocated_cost_in_its_own_column(demo_warehouse):
    settings = demo_warehouse
    rows = query(settings, """
        SELECT team, direct_cost, shared_cost, unallocated_cost, total_cost FROM marts.fct_showback_monthly
        WHERE billing_period_start = DATE '2026-02-01'
    """)  # fmt: skip
    assert {r[0] for r in rows} >= {"unallocated", "data"}
    for team, direct, shared, unallocated, total in rows:
        assert direct + shared + unallocated == total, team
        assert (unallocated != 0) is (team == "unallocated"), team
    [unallocated_row] = [r for r in rows if r[0] == "unallocated"]
    assert unallocated_row[3] == unallocated_row[4] > 0


def test_the_published_copy_resolves_the_staging_views(demo_warehouse):
    """dbt's views name the warehouse's catalog: the published copy keeps its file name, so they read there too,
    through tfm sql and through a plain read-only connection such as a BI tool's."""
    settings = demo_warehouse
    assert settings.published.name == settings.warehouse.name
    result = tfm(
        settings.home, "sql", "SELECT count(*) AS n FROM staging.stg_aws_cur2__line_items", "--format", "csv"
    )
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(settings.published), read_only=True)
    try:
        [(views,)] = con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'staging'"
        ).fetchall()
        [(rows,)] = con.execute("SELECT count(*) FROM staging.stg_aws_cur2__line_items").fetchall()
        [(raw,)] = con.execute("SELECT count(*) FROM raw.aws_cur2").fetchall()
    finally:
        con.close()
    assert views > 0
    assert rows == raw == int(result.output.strip().splitlines()[-1]) > 0
