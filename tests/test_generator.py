"""Tests of the synthetic billing generator (orchestration.generator).

Every dataset is small (a few thousand rows per period) and generated once per module; data files are
read back independently with DuckDB and pyarrow.
"""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.generator import GenerationSummary, GeneratorConfig, generate
from orchestration.ingest.schema import FOCUS_1_2_COLUMNS

REPO = Path(__file__).resolve().parents[1]
LEGACY_SAMPLE = (
    REPO
    / "orchestration"
    / "samples"
    / "aws-cur-legacy-focusconv"
    / "sample-anonymous-aws-export-dataset.csv"
)

# CUR 2.0 dictionary order (AWS Data Exports, INCLUDE_RESOURCES=TRUE, no split / capacity-reservation columns).
CUR2_EXPECTED = [
    "identity_line_item_id",
    "identity_time_interval",
    "bill_bill_type",
    "bill_billing_entity",
    "bill_billing_period_end_date",
    "bill_billing_period_start_date",
    "bill_invoice_id",
    "bill_invoicing_entity",
    "bill_payer_account_id",
    "bill_payer_account_name",
    "line_item_availability_zone",
    "line_item_blended_cost",
    "line_item_blended_rate",
    "line_item_currency_code",
    "line_item_iam_principal",
    "line_item_legal_entity",
    "line_item_line_item_description",
    "line_item_line_item_type",
    "line_item_net_unblended_cost",
    "line_item_net_unblended_rate",
    "line_item_normalization_factor",
    "line_item_normalized_usage_amount",
    "line_item_operation",
    "line_item_product_code",
    "line_item_resource_id",
    "line_item_tax_type",
    "line_item_unblended_cost",
    "line_item_unblended_rate",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "line_item_usage_amount",
    "line_item_usage_end_date",
    "line_item_usage_start_date",
    "line_item_usage_type",
    "line_item_user_identifier",
    "pricing_currency",
    "pricing_lease_contract_length",
    "pricing_offering_class",
    "pricing_public_on_demand_cost",
    "pricing_public_on_demand_rate",
    "pricing_purchase_option",
    "pricing_rate_code",
    "pricing_rate_id",
    "pricing_term",
    "pricing_unit",
    "product",
    "product_comment",
    "product_fee_code",
    "product_fee_description",
    "product_from_location",
    "product_from_location_type",
    "product_from_region_code",
    "product_instance_family",
    "product_instance_type",
    "product_instancesku",
    "product_location",
    "product_location_type",
    "product_operation",
    "product_pricing_unit",
    "product_product_family",
    "product_region_code",
    "product_servicecode",
    "product_sku",
    "product_to_location",
    "product_to_location_type",
    "product_to_region_code",
    "product_usagetype",
    "reservation_amortized_upfront_cost_for_usage",
    "reservation_amortized_upfront_fee_for_billing_period",
    "reservation_availability_zone",
    "reservation_effective_cost",
    "reservation_end_time",
    "reservation_modification_status",
    "reservation_net_amortized_upfront_cost_for_usage",
    "reservation_net_amortized_upfront_fee_for_billing_period",
    "reservation_net_effective_cost",
    "reservation_net_recurring_fee_for_usage",
    "reservation_net_unused_amortized_upfront_fee_for_billing_period",
    "reservation_net_unused_recurring_fee",
    "reservation_net_upfront_value",
    "reservation_normalized_units_per_reservation",
    "reservation_number_of_reservations",
    "reservation_recurring_fee_for_usage",
    "reservation_reservation_a_r_n",
    "reservation_start_time",
    "reservation_subscription_id",
    "reservation_total_reserved_normalized_units",
    "reservation_total_reserved_units",
    "reservation_units_per_reservation",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_normalized_unit_quantity",
    "reservation_unused_quantity",
    "reservation_unused_recurring_fee",
    "reservation_upfront_value",
    "savings_plan_amortized_upfront_commitment_for_billing_period",
    "savings_plan_end_time",
    "savings_plan_instance_type_family",
    "savings_plan_net_amortized_upfront_commitment_for_billing_period",
    "savings_plan_net_recurring_commitment_for_billing_period",
    "savings_plan_net_savings_plan_effective_cost",
    "savings_plan_offering_type",
    "savings_plan_payment_option",
    "savings_plan_purchase_term",
    "savings_plan_recurring_commitment_for_billing_period",
    "savings_plan_region",
    "savings_plan_savings_plan_a_r_n",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_savings_plan_rate",
    "savings_plan_start_time",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "discount",
    "discount_bundled_discount",
    "discount_total_discount",
    "cost_category",
    "resource_tags",
    "tags",
]
CUR2_TIMESTAMPS = {
    "bill_billing_period_end_date",
    "bill_billing_period_start_date",
    "line_item_usage_end_date",
    "line_item_usage_start_date",
}
CUR2_STRING_MAPS = {"product", "cost_category", "resource_tags", "tags"}
FOCUS_1_2 = list(FOCUS_1_2_COLUMNS)

BASE = {"rows": 6_000, "months": 2, "seed": 7, "start": "2026-01", "billing_accounts": 2, "usage_accounts": 6}


def _run(root: Path, **overrides: object) -> GenerationSummary:
    options = {**BASE, **overrides}
    return generate(GeneratorConfig(out=root, **options))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cur2(tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    return _run(tmp_path_factory.mktemp("cur2"), fmt="cur2")


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    return _run(tmp_path_factory.mktemp("legacy"), fmt="cur-legacy-csv")


@pytest.fixture(scope="module")
def focus(tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    return _run(tmp_path_factory.mktemp("focus"), fmt="focus-1.2")


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _parquet(files: list[Path]) -> str:
    return "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "], hive_partitioning = false)"


def _csv(files: list[Path]) -> str:
    return "read_csv([" + ", ".join(f"'{f}'" for f in files) + "], all_varchar = true, header = true)"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _files_bytes(summary: GenerationSummary) -> dict[str, bytes]:
    return {f.relative_to(summary.out).as_posix(): f.read_bytes() for f in summary.files}


# --- layout, schema, types -------------------------------------------------------------------------------


def test_cur2_layout_and_manifest(cur2: GenerationSummary) -> None:
    for period in ("2026-01", "2026-02"):
        data = cur2.out / "cur2" / "data" / f"BILLING_PERIOD={period}" / "cur2-00001.snappy.parquet"
        manifest = cur2.out / "cur2" / "metadata" / f"BILLING_PERIOD={period}" / "cur2-Manifest.json"
        assert data in cur2.data_files and manifest in cur2.manifest_files
        body = json.loads(manifest.read_text())
        assert body["billingPeriod"]["start"] == f"{period}-01T00:00:00.000Z"
        assert [c["name"] for c in body["columns"]] == CUR2_EXPECTED
        assert body["dataFiles"] == [data.relative_to(cur2.out).as_posix()]
        assert body["recordCount"] == BASE["rows"]
    assert cur2.labels_path == cur2.out / "labels" / "anomalies.csv"
    for name in (
        "business/unit_drivers.csv",
        "business/sli_daily.csv",
        "business/invoices.csv",
        "reference/accounts.csv",
        "README.txt",
    ):
        assert (cur2.out / name) in cur2.side_files


def test_cur2_schema_matches_the_data_dictionary(cur2: GenerationSummary) -> None:
    schema = pq.read_schema(cur2.data_files[0])
    assert schema.names == CUR2_EXPECTED
    for field in schema:
        if field.name in CUR2_TIMESTAMPS:
            assert pa.types.is_timestamp(field.type) and field.type.tz is None, field
        elif field.name in CUR2_STRING_MAPS:
            assert field.type == pa.map_(pa.string(), pa.string()), field
        elif field.name == "discount":
            assert field.type == pa.map_(pa.string(), pa.float64()), field
        else:
            assert field.type in (pa.string(), pa.float64()), field
    types = {
        r[0]: r[1] for r in _con().execute(f"DESCRIBE SELECT * FROM {_parquet(cur2.data_files)}").fetchall()
    }
    assert types["resource_tags"] == "MAP(VARCHAR, VARCHAR)"
    assert types["discount"] == "MAP(VARCHAR, DOUBLE)"
    for column in (
        "bill_payer_account_id",
        "line_item_usage_account_id",
        "bill_invoice_id",
        "pricing_rate_id",
    ):
        assert types[column] == "VARCHAR"
    assert types["line_item_unblended_cost"] == "DOUBLE" and types["line_item_unblended_rate"] == "VARCHAR"


def test_ids_are_twelve_digit_strings(cur2: GenerationSummary) -> None:
    con = _con()
    ids = con.execute(
        f"SELECT DISTINCT bill_payer_account_id FROM {_parquet(cur2.data_files)} UNION "
        f"SELECT DISTINCT line_item_usage_account_id FROM {_parquet(cur2.data_files)}"
    ).fetchall()
    assert len(ids) == BASE["billing_accounts"] + BASE["usage_accounts"]
    assert all(isinstance(i, str) and len(i) == 12 and i.isdigit() for (i,) in ids)
    accounts = _read_csv(cur2.out / "reference" / "accounts.csv")
    assert {a["account_id"] for a in accounts} == {i for (i,) in ids}
    assert all(len(a["account_id"]) == 12 for a in accounts)  # leading zeros kept
    assert {a["owner_team"] for a in accounts} <= {"payments", "search", "checkout", "platform", "data"}


def test_strings_that_do_not_apply_are_empty_not_null(cur2: GenerationSummary) -> None:
    row = (
        _con()
        .execute(
            f"SELECT count(*) FILTER (WHERE reservation_reservation_a_r_n IS NULL), "
            f"count(*) FILTER (WHERE reservation_reservation_a_r_n = ''), "
            f"count(*) FILTER (WHERE line_item_net_unblended_cost IS NULL), count(*) "
            f"FROM {_parquet(cur2.data_files)} WHERE line_item_line_item_type = 'Usage'"
        )
        .fetchone()
    )
    assert row is not None
    nulls, empty, net_nulls, total = row
    assert nulls == 0 and empty == total and net_nulls == total


def test_legacy_layout_header_and_dates(legacy: GenerationSummary) -> None:
    for period, span in (("2026-01", "20260101-20260201"), ("2026-02", "20260201-20260301")):
        manifest = legacy.out / "cur-legacy" / span / "cur-legacy-Manifest.json"
        body = json.loads(manifest.read_text())
        assert body["billingPeriod"]["start"].startswith(period.replace("-", ""))
        keys = body["reportKeys"]
        assert keys and all(k.startswith(f"cur-legacy/{span}/{body['assemblyId']}/cur-legacy-") for k in keys)
        assert all((legacy.out / k).is_file() and k.endswith(".csv.gz") for k in keys)
    with gzip.open(legacy.data_files[0], "rt", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        first = dict(zip(header, next(reader), strict=True))
    assert all("/" in h for h in header)
    for column in (
        "identity/LineItemId",
        "bill/PayerAccountId",
        "lineItem/UnblendedCost",
        "product/ProductName",
        "pricing/publicOnDemandCost",
        "reservation/EffectiveCost",
        "savingsPlan/SavingsPlanEffectiveCost",
        "reservation/ReservationARN",
        "lineItem/ResourceId",
        "resourceTags/user:team",
        "resourceTags/user:env",
        "resourceTags/user:Environment",
        "resourceTags/aws:createdBy",
    ):
        assert column in header, column
    assert first["bill/BillingPeriodStartDate"] == "2026-01-01T00:00:00Z"
    assert first["lineItem/UsageStartDate"].endswith("T00:00:00Z")
    assert len(first["bill/PayerAccountId"]) == 12
    if LEGACY_SAMPLE.is_file():  # the real public sample: every one of its columns, in the same order
        with open(LEGACY_SAMPLE, newline="", encoding="utf-8") as fh:
            sample = next(csv.reader(fh))
        assert [h for h in header if h in sample] == sample


def test_legacy_headers_map_to_cur2_names(legacy: GenerationSummary, cur2: GenerationSummary) -> None:
    def athena(header: str) -> str:  # AWS's rule, written out independently of the generator
        out: list[str] = []
        for ch in header:
            if ch.isupper():
                if out and out[-1] != "_":
                    out.append("_")
                out.append(ch.lower())
            elif ch.isalnum():
                out.append(ch)
            elif out and out[-1] != "_":
                out.append("_")
        return "".join(out).strip("_")

    with gzip.open(legacy.data_files[0], "rt", newline="") as fh:
        header = next(csv.reader(fh))
    cur2_names = set(pq.read_schema(cur2.data_files[0]).names)
    assert athena("reservation/ReservationARN") == "reservation_reservation_a_r_n"
    assert athena("lineItem/UnblendedCost") == "line_item_unblended_cost"
    product_keys = {
        k
        for (m,) in _con()
        .execute(f"SELECT DISTINCT unnest(map_keys(product)) FROM {_parquet(cur2.data_files)}")
        .fetchall()
        for k in [m]
    }
    for h in header:
        if h.startswith(("resourceTags/", "costCategory/")):
            continue
        name = athena(h)
        assert (
            name in cur2_names or name.removeprefix("product_") in product_keys or h.startswith("product/")
        ), h


def test_focus_columns_types_and_nulls(focus: GenerationSummary) -> None:
    path = focus.out / "focus" / "data" / "BILLING_PERIOD=2026-01" / "focus-00001.snappy.parquet"
    assert path in focus.data_files
    schema = pq.read_schema(path)
    assert schema.names == FOCUS_1_2 + ["x_Discounts", "x_Operation", "x_ServiceCode"]
    assert len(FOCUS_1_2) == 57
    for name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "PricingQuantity"):
        assert schema.field(name).type == pa.decimal128(38, 10)
    assert schema.field("ChargePeriodStart").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("BillingAccountId").type == pa.string()
    con = _con()
    src = _parquet(focus.data_files)
    strings = [f.name for f in schema if f.type == pa.string()]
    empties = con.execute(
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE \"{c}\" = '')" for c in strings) + f" FROM {src}"
    ).fetchone()
    assert empties is not None and not any(empties), "FOCUS writes NULL, never empty strings"
    categories = {r[0] for r in con.execute(f"SELECT DISTINCT ChargeCategory FROM {src}").fetchall()}
    assert categories <= {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
    assert {"Usage", "Purchase", "Tax", "Credit"} <= categories
    bad = con.execute(
        f"SELECT count(*) FROM {src} WHERE (ChargeCategory = 'Purchase' AND ChargeFrequency = 'Usage-Based') "
        "OR (ChargeCategory = 'Tax' AND PricingCategory IS NOT NULL) "
        "OR ((ResourceId IS NULL) <> (ResourceName IS NULL)) "
        "OR ((CommitmentDiscountId IS NULL) <> (CommitmentDiscountType IS NULL)) "
        "OR (ChargeCategory = 'Usage' AND CommitmentDiscountId IS NOT NULL AND CommitmentDiscountStatus IS NULL) "
        "OR (ChargeCategory = 'Purchase' AND CommitmentDiscountId IS NOT NULL AND EffectiveCost <> 0) "
        "OR BilledCost IS NULL OR EffectiveCost IS NULL OR ListCost IS NULL OR ContractedCost IS NULL"
    ).fetchone()
    assert bad == (0,)
    statuses = {r[0] for r in con.execute(f"SELECT DISTINCT CommitmentDiscountStatus FROM {src}").fetchall()}
    assert statuses == {None, "Used", "Unused"}
    tags = con.execute(f"SELECT Tags FROM {src} WHERE Tags IS NOT NULL LIMIT 50").fetchall()
    assert tags and all(isinstance(json.loads(t), dict) for (t,) in tags)


def test_focus_commitments_amortise_to_their_cost(focus: GenerationSummary) -> None:
    """Per commitment and period: Used + Unused EffectiveCost = the commitment's amortised cost."""
    rows = (
        _con()
        .execute(f"""
        SELECT CommitmentDiscountId, BillingPeriodStart,
               sum(EffectiveCost) FILTER (WHERE ChargeCategory = 'Usage') AS amortised,
               sum(EffectiveCost) FILTER (WHERE CommitmentDiscountStatus = 'Unused') AS unused
        FROM {_parquet(focus.data_files)} WHERE CommitmentDiscountId IS NOT NULL GROUP BY ALL
    """)
        .fetchall()
    )
    assert rows
    assert any(unused and unused > 0 for *_, unused in rows)
    assert all(
        amortised is not None and amortised > 0 for _, _, amortised, _ in rows if amortised is not None
    )


# --- counts, determinism, chunking -----------------------------------------------------------------------


def test_rows_per_period_are_exact(
    cur2: GenerationSummary, legacy: GenerationSummary, focus: GenerationSummary
) -> None:
    con = _con()
    counts = dict(
        con.execute(
            f"SELECT strftime(bill_billing_period_start_date, '%Y-%m'), count(*) FROM {_parquet(cur2.data_files)} "
            "GROUP BY ALL"
        ).fetchall()
    )
    assert counts == {"2026-01": BASE["rows"], "2026-02": BASE["rows"]} == cur2.rows_per_period
    counts = dict(
        con.execute(
            f'SELECT left("bill/BillingPeriodStartDate", 7), count(*) FROM {_csv(legacy.data_files)} GROUP BY ALL'
        ).fetchall()
    )
    assert counts == {"2026-01": BASE["rows"], "2026-02": BASE["rows"]}
    counts = dict(
        con.execute(
            f"SELECT strftime(BillingPeriodStart, '%Y-%m'), count(*) FROM {_parquet(focus.data_files)} GROUP BY ALL"
        ).fetchall()
    )
    assert counts == {"2026-01": BASE["rows"], "2026-02": BASE["rows"]}


@pytest.mark.parametrize(
    ("fmt", "file_format"), [("cur2", "parquet"), ("cur-legacy-csv", "csv"), ("focus-1.2", "csv")]
)
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, fmt: str, file_format: str) -> None:
    options = {
        "fmt": fmt,
        "file_format": file_format,
        "rows": 3_000,
        "months": 1,
        "billing_accounts": 1,
        "usage_accounts": 4,
    }
    first = _run(tmp_path / "a", **options)
    again = _run(tmp_path / "b", **options)
    other = _run(tmp_path / "c", **{**options, "seed": 8})
    assert _files_bytes(first) == _files_bytes(again)
    assert len(first.data_files) == len(other.data_files)
    assert all(
        f.read_bytes() != g.read_bytes() for f, g in zip(first.data_files, other.data_files, strict=True)
    )
    assert first.labels_path.read_bytes() != other.labels_path.read_bytes()


def test_large_periods_are_split_into_numbered_files(tmp_path: Path) -> None:
    summary = _run(
        tmp_path,
        fmt="cur2",
        rows=12_000,
        months=1,
        billing_accounts=1,
        usage_accounts=4,
        max_rows_per_file=5_000,
        chunk_rows=3_000,
    )
    names = [f.name for f in summary.data_files]
    assert names == ["cur2-00001.snappy.parquet", "cur2-00002.snappy.parquet", "cur2-00003.snappy.parquet"]
    sizes = [pq.ParquetFile(f).metadata.num_rows for f in summary.data_files]
    assert sizes == [5_000, 5_000, 2_000]
    assert pq.ParquetFile(summary.data_files[0]).metadata.num_row_groups > 1  # streamed in chunks
    manifest = json.loads(summary.manifest_files[0].read_text())
    assert len(manifest["dataFiles"]) == 3


def test_csv_cur2_maps_are_json_and_dates_iso(tmp_path: Path) -> None:
    summary = _run(
        tmp_path, fmt="cur2", file_format="csv", rows=3_000, months=1, billing_accounts=1, usage_accounts=4
    )
    assert summary.data_files[0].name == "cur2-00001.csv.gz"
    with gzip.open(summary.data_files[0], "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3_000
    assert all(isinstance(json.loads(r["resource_tags"]), dict) for r in rows)
    assert all(isinstance(json.loads(r["product"]), dict) for r in rows)
    assert rows[0]["bill_billing_period_start_date"] == "2026-01-01T00:00:00.000Z"
    tagged = [json.loads(r["resource_tags"]) for r in rows if r["resource_tags"] != "{}"]
    assert any("user_team" in t for t in tagged)


def test_csv_focus_is_exact_decimal_text(tmp_path: Path) -> None:
    summary = _run(
        tmp_path,
        fmt="focus-1.2",
        file_format="csv",
        rows=3_000,
        months=1,
        billing_accounts=1,
        usage_accounts=4,
    )
    assert summary.data_files[0].name == "focus-00001.csv.gz"
    rows = (
        _con()
        .execute(f"""
        SELECT BillingAccountId, left(BillingPeriodStart, 7), sum(CAST(BilledCost AS DECIMAL(38, 10))),
               count(*) FILTER (WHERE ChargePeriodStart NOT LIKE '____-__-__T00:00:00Z')
        FROM {_csv(summary.data_files)} GROUP BY ALL""")
        .fetchall()
    )
    assert {(p, b): round(t, 2) for p, b, t, _ in rows} == _invoices(summary)
    assert all(bad == 0 for *_, bad in rows)


# --- money ------------------------------------------------------------------------------------------------


def _invoices(summary: GenerationSummary) -> dict[tuple[str, str], Decimal]:
    rows = _read_csv(summary.out / "business" / "invoices.csv")
    assert all(r["currency"] == "USD" for r in rows)
    return {(r["billing_account_id"], r["billing_period"]): Decimal(r["total"]) for r in rows}


def test_invoices_equal_billed_cost_cur2(cur2: GenerationSummary) -> None:
    got = {
        (p, b): round(t, 2)
        for p, b, t in _con()
        .execute(f"""
        SELECT bill_payer_account_id, strftime(bill_billing_period_start_date, '%Y-%m'),
               sum(CAST(coalesce(line_item_net_unblended_cost, line_item_unblended_cost) AS DECIMAL(38, 10)))
        FROM {_parquet(cur2.data_files)} GROUP BY ALL""")
        .fetchall()
    }
    assert len(got) == BASE["billing_accounts"] * BASE["months"]
    assert got == _invoices(cur2)
    assert {k: round(v, 2) for k, v in cur2.cost_per_period.items()} == {
        period: sum((v for (_, p), v in got.items() if p == period), Decimal(0))
        for period in cur2.rows_per_period
    }


def test_invoices_equal_billed_cost_legacy_and_focus(
    legacy: GenerationSummary, focus: GenerationSummary
) -> None:
    con = _con()
    got = {
        (p, b): round(t, 2)
        for p, b, t in con.execute(f"""
        SELECT "bill/PayerAccountId", left("bill/BillingPeriodStartDate", 7),
               sum(CAST("lineItem/UnblendedCost" AS DECIMAL(38, 10)))
        FROM {_csv(legacy.data_files)} GROUP BY ALL""").fetchall()
    }
    assert got == _invoices(legacy)
    got = {
        (p, b): round(t, 2)
        for p, b, t in con.execute(f"""
        SELECT BillingAccountId, strftime(BillingPeriodStart, '%Y-%m'), sum(BilledCost)
        FROM {_parquet(focus.data_files)} GROUP BY ALL""").fetchall()
    }
    assert got == _invoices(focus)


def test_commitments_are_coherent_cur2(cur2: GenerationSummary) -> None:
    """Per commitment and period: covered usage effective cost + unused part = amortised commitment cost."""
    con = _con()
    src = _parquet(cur2.data_files)
    d = "AS DECIMAL(38, 10))"
    ri = con.execute(f"""
        WITH used AS (
            SELECT bill_billing_period_start_date AS p, reservation_reservation_a_r_n AS arn,
                   sum(CAST(reservation_effective_cost {d}) AS used
            FROM {src} WHERE line_item_line_item_type = 'DiscountedUsage' GROUP BY ALL),
        fee AS (
            SELECT bill_billing_period_start_date AS p, reservation_reservation_a_r_n AS arn,
                   sum(CAST(reservation_amortized_upfront_fee_for_billing_period {d}
                       + CAST(line_item_unblended_cost {d}) AS total,
                   sum(CAST(reservation_unused_amortized_upfront_fee_for_billing_period {d}
                       + CAST(reservation_unused_recurring_fee {d}) AS unused
            FROM {src} WHERE line_item_line_item_type = 'RIFee' GROUP BY ALL)
        SELECT fee.arn, total, unused, coalesce(used, 0) FROM fee LEFT JOIN used USING (p, arn)""").fetchall()
    assert len(ri) >= 2 * BASE["billing_accounts"] * BASE["months"]
    assert all(used + unused == total for _, total, unused, used in ri)
    assert any(unused > 0 for _, _, unused, _ in ri), "an under-utilised Reserved Instance"
    assert all(unused >= 0 for _, _, unused, _ in ri)
    sp = con.execute(f"""
        WITH used AS (
            SELECT bill_billing_period_start_date AS p, savings_plan_savings_plan_a_r_n AS arn,
                   sum(CAST(savings_plan_savings_plan_effective_cost {d}) AS used
            FROM {src} WHERE line_item_line_item_type = 'SavingsPlanCoveredUsage' GROUP BY ALL),
        fee AS (
            SELECT bill_billing_period_start_date AS p, savings_plan_savings_plan_a_r_n AS arn,
                   sum(CAST(savings_plan_total_commitment_to_date {d}) AS total,
                   sum(CAST(savings_plan_total_commitment_to_date {d}
                       - CAST(savings_plan_used_commitment {d}) AS unused
            FROM {src} WHERE line_item_line_item_type = 'SavingsPlanRecurringFee' GROUP BY ALL)
        SELECT fee.arn, total, unused, coalesce(used, 0) FROM fee LEFT JOIN used USING (p, arn)""").fetchall()
    assert sp and all(used + unused == total for _, total, unused, used in sp)
    assert all(unused > 0 for _, _, unused, _ in sp)
    # Negations offset the covered usage's unblended cost exactly; upfront fees appear in the purchase month.
    row = con.execute(f"""
        SELECT sum(CAST(line_item_unblended_cost {d}) FILTER (WHERE line_item_line_item_type
                   IN ('SavingsPlanCoveredUsage', 'SavingsPlanNegation')),
               count(*) FILTER (WHERE line_item_line_item_type = 'SavingsPlanUpfrontFee'),
               count(*) FILTER (WHERE line_item_line_item_type = 'Fee' AND bill_bill_type = 'Purchase'),
               count(*) FILTER (WHERE line_item_line_item_type = 'Tax'),
               count(*) FILTER (WHERE line_item_line_item_type = 'Credit' AND line_item_unblended_cost < 0)
        FROM {src}""").fetchone()
    assert row is not None
    negation_total, sp_upfront, ri_upfront, taxes, credits = row
    assert negation_total == 0 and sp_upfront >= 1 and ri_upfront >= 1 and taxes > 0 and credits > 0


# --- anomalies, tags, side inputs ---------------------------------------------------------------------------


def test_anomaly_labels_are_visible_in_the_data(cur2: GenerationSummary) -> None:
    labels = _read_csv(cur2.labels_path)
    assert labels and {lab["kind"] for lab in labels} == {"spike", "level_shift", "runaway"}
    con = _con()
    src = _parquet(cur2.data_files)
    for lab in labels:
        daily = dict(
            con.execute(
                f"SELECT CAST(line_item_usage_start_date AS DATE), sum(CAST(line_item_unblended_cost AS DECIMAL(38,10))) "
                f"FROM {src} WHERE line_item_resource_id = ? GROUP BY ALL",
                [lab["resource_id"]],
            ).fetchall()
        )
        inside = {d: v for d, v in daily.items() if lab["start_date"] <= d.isoformat() <= lab["end_date"]}
        outside = [v for d, v in daily.items() if d not in inside]
        assert inside and outside
        window_cost = sum(inside.values(), Decimal(0))
        baseline, injected = Decimal(lab["baseline_cost"]), Decimal(lab["injected_cost"])
        assert injected > 0 and abs(window_cost - (baseline + injected)) < Decimal("0.0001"), lab
        mean_inside = window_cost / len(inside)
        mean_outside = sum(outside, Decimal(0)) / len(outside)
        assert mean_inside > Decimal("1.25") * mean_outside, lab
        assert lab["billing_account_id"] != lab["usage_account_id"] and lab["service_name"]


def test_labels_and_business_inputs_do_not_depend_on_the_format(
    cur2: GenerationSummary, legacy: GenerationSummary, focus: GenerationSummary
) -> None:
    for name in (
        "labels/anomalies.csv",
        "business/unit_drivers.csv",
        "business/sli_daily.csv",
        "reference/accounts.csv",
    ):
        content = (cur2.out / name).read_bytes()
        assert content == (legacy.out / name).read_bytes() == (focus.out / name).read_bytes(), name


def test_tags_share_and_inconsistent_keys(cur2: GenerationSummary) -> None:
    con = _con()
    src = _parquet(cur2.data_files)
    untagged, total = con.execute(f"""
        SELECT count(*) FILTER (WHERE NOT list_has_any(map_keys(tags), ['team', 'Team', 'product', 'cost_center',
                                                                        'env', 'Environment', 'environment'])),
               count(*)
        FROM (SELECT DISTINCT line_item_resource_id, tags FROM {src} WHERE line_item_resource_id <> '')
    """).fetchone()
    assert 0.15 < untagged / total < 0.35
    keys = {k for (k,) in con.execute(f"SELECT DISTINCT unnest(map_keys(tags)) FROM {src}").fetchall()}
    assert {"team", "Team", "env", "Environment", "environment", "product", "cost_center"} <= keys
    values = {
        v
        for (v,) in con.execute(f"SELECT DISTINCT coalesce(tags['team'], tags['Team']) FROM {src}").fetchall()
        if v
    }
    assert values <= {"payments", "search", "checkout", "platform", "data"}
    normalised = {
        k for (k,) in con.execute(f"SELECT DISTINCT unnest(map_keys(resource_tags)) FROM {src}").fetchall()
    }
    assert {"user_team", "user_env", "user_environment", "aws_created_by"} <= normalised


def test_unit_drivers_follow_product_usage(cur2: GenerationSummary) -> None:
    con = _con()
    drivers = cur2.out / "business" / "unit_drivers.csv"
    corr = con.execute(f"""
        WITH usage AS (
            SELECT CAST(line_item_usage_start_date AS DATE) AS day, sum(line_item_usage_amount) AS amount
            FROM {_parquet(cur2.data_files)}
            WHERE tags['product'] = 'storefront' AND line_item_product_code = 'AWSLambda'
              AND line_item_usage_type LIKE '%Request%'
            GROUP BY ALL)
        SELECT corr(amount, requests) FROM usage
        JOIN read_csv('{drivers}', header = true) d ON d.date = usage.day AND d.product = 'storefront'
    """).fetchone()
    assert corr is not None and corr[0] > 0.5
    slis = _read_csv(cur2.out / "business" / "sli_daily.csv")
    assert all(0 <= int(r["good_events"]) <= int(r["total_events"]) for r in slis)
    assert {r["sli_name"] for r in slis} == {"availability", "latency_p95_under_300ms"}


def test_weekly_seasonality(cur2: GenerationSummary) -> None:
    weekday, weekend = (
        _con()
        .execute(f"""
        SELECT avg(c) FILTER (WHERE dayofweek(d) BETWEEN 1 AND 5), avg(c) FILTER (WHERE dayofweek(d) IN (0, 6))
        FROM (SELECT CAST(line_item_usage_start_date AS DATE) AS d, sum(line_item_usage_amount) AS c
              FROM {_parquet(cur2.data_files)}
              WHERE line_item_line_item_type = 'Usage' AND line_item_usage_type LIKE '%Request%' GROUP BY ALL)
    """)
        .fetchone()
    )
    assert weekday > 1.15 * weekend


# --- API -------------------------------------------------------------------------------------------------------


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[tuple[int, int, str]] = []
    config = GeneratorConfig(out=tmp_path, rows=3_000, months=1, usage_accounts=4, chunk_rows=1_000)
    summary = generate(config, progress=lambda done, total, message: seen.append((done, total, message)))
    assert len(seen) > 2 and seen[-1][0] == seen[-1][1] == summary.total_rows == 3_000
    assert [d for d, *_ in seen] == sorted(d for d, *_ in seen)


def test_bad_configurations_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fmt"):
        GeneratorConfig(out=tmp_path, fmt="cur3")
    with pytest.raises(ValueError, match="start"):
        GeneratorConfig(out=tmp_path, start="2026-13")
    with pytest.raises(ValueError, match="file_format"):
        GeneratorConfig(out=tmp_path, file_format="json")
    with pytest.raises(ValueError, match="too small"):
        generate(GeneratorConfig(out=tmp_path, rows=500))
