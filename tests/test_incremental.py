"""Incremental refresh by billing period: a day of data arriving rebuilds its month only, and the result equals a
full rebuild, row for row.

One module-scoped scenario (three builds through Dagster, as ``tfm build`` runs them): a generated CUR 2.0
quarter is ingested with March missing its last day and built whole; a row of January's FOCUS charges is then
marked; March's file is delivered again with its last day, ingested, and built incrementally; finally the same
warehouse is rebuilt with ``--full-refresh``.
"""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pytest

from orchestration.generator import GeneratorConfig, generate
from tests.conftest import query, tfm_environment

# The incremental models (dbt_project.yml) and the marts built from them that no Python model feeds.
COMPARED = [
    "intermediate.int_aws_cur_charges_mapped_to_focus",
    "intermediate.int_charge_tags_normalized",
    "intermediate.int_charges_owned",
    "intermediate.int_shared_pools_split",
    "marts.fct_focus_charges",
    "marts.fct_cost_allocation",
    "marts.fct_showback_monthly",
    "marts.fct_chargeback_monthly",
    "marts.fct_unit_economics",
    "marts.fct_commitment_kpis",
    "marts.fct_cost_per_slo",
    "marts.rpt_masked_tag_values",
    "marts.dim_accounts",
    "marts.dim_services",
]
PROBE = "probe: not rebuilt"


def _snapshot(settings) -> dict[str, tuple]:
    """Rows, an order-independent checksum of every row, and the cost total of each compared table."""
    found = {}
    for table in COMPARED:
        schema, name = table.split(".")
        columns = [c for (c,) in query(settings, "SELECT column_name FROM information_schema.columns "
                                       "WHERE table_schema = ? AND table_name = ?", [schema, name])]  # fmt: skip
        cost = next((c for c in ("BilledCost", "billed_cost", "effective_cost", "total_cost") if c in columns), None)
        total = f"sum({cost})" if cost else "NULL"
        found[table] = tuple(
            query(settings, f"SELECT count(*), coalesce(bit_xor(hash(t)), 0), {total} FROM {table} t")[0]
        )
    return found


def _cost_by_period(settings) -> dict[date, tuple]:
    return {
        period: (billed, effective)
        for period, billed, effective in query(
            settings,
            "SELECT x_billing_period, sum(BilledCost), sum(EffectiveCost) FROM marts.fct_focus_charges GROUP BY 1",
        )
    }


def _build(settings, *, full_refresh: bool = False) -> None:
    from orchestration.cli import run_build, run_ingest

    assert run_ingest(settings) == []
    assert run_build(settings, full_refresh=full_refresh) == []


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("incremental")
    generated = root / "generated"
    generate(GeneratorConfig(out=generated, fmt="cur2", months=3, rows=3000, seed=11, start="2026-01"))
    march = next((generated / "cur2" / "data" / "BILLING_PERIOD=2026-03").glob("*.parquet"))
    with tfm_environment(root / "home") as settings:
        landing_march = settings.landing / "cur2" / march.relative_to(generated / "cur2")
        shutil.copytree(generated / "cur2", settings.landing / "cur2")
        # March as delivered on the 31st: the month's fees and commitments, and the usage of every day but the last.
        con = duckdb.connect()
        con.execute(
            "COPY (SELECT * FROM read_parquet(?) WHERE line_item_line_item_type <> 'Usage' "
            "OR line_item_usage_start_date < TIMESTAMP '2026-03-31') "
            "TO '" + str(landing_march).replace("'", "''") + "' (FORMAT parquet)",
            [str(march)],
        )
        con.close()
        _build(settings)
        first = {"state": query(settings, "SELECT count(*) FROM meta.dbt_period_state")[0][0],
                 "cost": _cost_by_period(settings)}  # fmt: skip

        # Mark one January charge: an incremental build of March must leave it as it is.
        con = duckdb.connect(str(settings.warehouse))
        key = con.execute(
            "SELECT x_source_file, x_source_row, x_charge_origin, x_product_code FROM marts.fct_focus_charges "
            "WHERE x_billing_period = DATE '2026-01-01' ORDER BY x_source_row LIMIT 1"
        ).fetchone()
        where = "x_source_file = ? AND x_source_row = ? AND x_charge_origin = ?"
        con.execute(f"UPDATE marts.fct_focus_charges SET x_product_code = ? WHERE {where}", [PROBE, *key[:3]])
        con.close()

        shutil.copy2(march, landing_march)  # the provider delivers March again, now with its last day
        _build(settings)
        incremental = {
            "probe": query(settings, "SELECT count(*) FROM marts.fct_focus_charges WHERE x_product_code = ?",
                           [PROBE])[0][0],
            "plan": query(settings, "SELECT count(*) FROM meta.dbt_build_plan")[0][0],
            "cost": _cost_by_period(settings),
        }  # fmt: skip
        con = duckdb.connect(str(settings.warehouse))
        con.execute(f"UPDATE marts.fct_focus_charges SET x_product_code = ? WHERE {where}", [key[3], *key[:3]])
        con.close()
        incremental["snapshot"] = _snapshot(settings)
        raw = {
            period: cost
            for period, cost in query(
                settings,
                "SELECT _billing_period, sum(coalesce(line_item_net_unblended_cost, line_item_unblended_cost)) "
                "FROM raw.aws_cur2 GROUP BY 1",
            )
        }

        _build(settings, full_refresh=True)
        full = {"snapshot": _snapshot(settings), "cost": _cost_by_period(settings)}
        yield {"first": first, "incremental": incremental, "full": full, "raw": raw, "settings": settings}


def test_a_day_of_data_rebuilds_its_month_and_no_other(scenario):
    first, incremental = scenario["first"], scenario["incremental"]
    assert first["state"] >= 3  # the whole build recorded every period it built
    march = date(2026, 3, 1)
    # March grew by its last day; January and February are the same to the cent.
    assert incremental["cost"][march][0] > first["cost"][march][0]
    for period in (date(2026, 1, 1), date(2026, 2, 1)):
        assert incremental["cost"][period] == first["cost"][period]
    # January's marked row survived: January was not rebuilt.
    assert incremental["probe"] == 1
    # The plan only lives for the build's dbt steps: dbt run by hand rebuilds every period.
    assert incremental["plan"] == 0


def test_the_incremental_result_equals_a_full_rebuild(scenario):
    incremental, full = scenario["incremental"]["snapshot"], scenario["full"]["snapshot"]
    for table in COMPARED:
        assert incremental[table] == full[table], table
    assert scenario["incremental"]["cost"] == scenario["full"]["cost"]


def test_every_period_conserves_the_raw_cost_after_the_incremental_build(scenario):
    cost = scenario["incremental"]["cost"]
    for period, raw_billed in scenario["raw"].items():
        assert round(cost[period][0], 2) == round(raw_billed, 2), period


def test_a_changed_project_rebuilds_everything(scenario):
    from orchestration.defs.dbt import dbt_project
    from orchestration.incremental import plan_build, project_fingerprint

    settings = scenario["settings"]
    con = duckdb.connect(str(settings.warehouse))
    try:
        fingerprint = project_fingerprint(dbt_project.manifest_path)
        assert plan_build(con, fingerprint).full_refresh is False
        changed = plan_build(con, "another project")
        assert changed.full_refresh and "project changed" in changed.reason
    finally:
        con.close()
