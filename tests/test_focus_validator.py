"""The FOCUS validator harness: a hand-made, correct FOCUS 1.2 month passes the FinOps Foundation's
validator (bar the listed exceptions), and broken data fails it on the expected rules.

The validator runs in its own Python 3.12 virtualenv, which the first test to need it creates (about a
minute, once per machine; later runs reuse it). Each validation then takes a few seconds.
"""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.conformance.focus_validator import (
    DEFAULT_EXCEPTIONS_FILE,
    FOCUS_1_2_COLUMNS,
    RuleFailure,
    ValidatorReport,
    export_focus_parquet,
    load_exceptions,
    parse_console_report,
    run_focus_validator,
    unexpected_failures,
)

# --------------------------------------------------------------------------------------------------
# A small, carefully correct FOCUS 1.2 month (January 2026, one AWS payer and one linked account):
# on-demand usage, tax, the purchase of a 1-year all-upfront reserved instance (EffectiveCost 0), its
# used and unused hours (amortized: 876 USD / 8760 h = 0.10 USD an hour), and a credit.
# --------------------------------------------------------------------------------------------------

D = Decimal
DECIMAL_COLUMNS = {
    "BilledCost", "CommitmentDiscountQuantity", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice",
    "EffectiveCost", "ListCost", "ListUnitPrice", "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "PricingQuantity",
}  # fmt: skip
DATETIME_COLUMNS = {"BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"}
EXTRA_COLUMNS = ["x_ServiceCode", "billing_period"]  # billing_period is not FOCUS: the export drops it


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)  # naive, meaning UTC, as the warehouse keeps them


ACCOUNT = {
    "BillingAccountId": "123456789012",
    "BillingAccountName": "acme-payer",
    "BillingAccountType": "Billing Account",
    "SubAccountId": "210987654321",
    "SubAccountName": "acme-prod",
    "SubAccountType": "Linked Account",
    "BillingCurrency": "USD",
    "PricingCurrency": "USD",
    "BillingPeriodStart": ts("2026-01-01T00:00:00"),
    "BillingPeriodEnd": ts("2026-02-01T00:00:00"),
    "ProviderName": "AWS",
    "PublisherName": "AWS",
    "InvoiceIssuerName": "AWS",
    "InvoiceId": "INV-2026-01-000123",
    "ServiceName": "Amazon Elastic Compute Cloud",
    "ServiceCategory": "Compute",
    "ServiceSubcategory": "Virtual Machines",
    "x_ServiceCode": "AmazonEC2",
    "billing_period": "2026-01",
}
REGION = {"RegionId": "us-east-1", "RegionName": "US East (N. Virginia)"}
INSTANCE = {
    "ResourceId": "arn:aws:ec2:us-east-1:210987654321:instance/i-0a1b2c3d4e5f60718",
    "ResourceName": "web-1",
    "ResourceType": "Virtual Machine",
    "AvailabilityZone": "us-east-1a",
    "Tags": '{"team": "web", "env": "prod"}',
}
ON_DEMAND_SKU = {
    "SkuId": "SKU-EC2-M5XL-LINUX",
    "SkuPriceId": "SKU-EC2-M5XL-LINUX.ON-DEMAND",
    "SkuMeter": "Compute Usage",
    "SkuPriceDetails": '{"InstanceType": "m5.xlarge", "CoreCount": 4, "OperatingSystem": "Linux"}',
}
RI_ID = "arn:aws:ec2:us-east-1:210987654321:reserved-instances/4f9c2a71-1b2e-4c55-9a0d-7e3f1c2b8d10"
RI_NAME = "m5.xlarge Linux us-east-1 (1yr All Upfront)"
RESERVATION = {
    "CommitmentDiscountId": RI_ID,
    "CommitmentDiscountName": RI_NAME,
    "CommitmentDiscountCategory": "Usage",
    "CommitmentDiscountType": "Reserved Instance",
    "CommitmentDiscountUnit": "Hours",
}


def priced(unit_price: str, quantity: str, unit: str = "Hours") -> dict:
    price, qty = D(unit_price), D(quantity)
    return {
        "PricingQuantity": qty,
        "PricingUnit": unit,
        "ListUnitPrice": price,
        "ContractedUnitPrice": price,
        "PricingCurrencyListUnitPrice": price,
        "PricingCurrencyContractedUnitPrice": price,
        "ListCost": price * qty,
        "ContractedCost": price * qty,
    }


def costs(billed: str, effective: str) -> dict:
    return {
        "BilledCost": D(billed),
        "EffectiveCost": D(effective),
        "PricingCurrencyEffectiveCost": D(effective),
    }


USAGE = {
    **ACCOUNT, **REGION, **INSTANCE, **ON_DEMAND_SKU, **priced("0.192", "10"), **costs("1.92", "1.92"),
    "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based", "PricingCategory": "Standard",
    "ChargePeriodStart": ts("2026-01-10T00:00:00"), "ChargePeriodEnd": ts("2026-01-10T10:00:00"),
    "ChargeDescription": "USD 0.192 per On Demand Linux m5.xlarge Instance Hour",
    "ConsumedQuantity": D("10"), "ConsumedUnit": "Hours",
}  # fmt: skip
TAX = {  # 1% of the month's charges, each cost metric computed on the same metric of the taxed charges
    **ACCOUNT, "ChargeCategory": "Tax", "ChargeFrequency": "Recurring",
    "ChargePeriodStart": ts("2026-01-01T00:00:00"), "ChargePeriodEnd": ts("2026-02-01T00:00:00"),
    "ChargeDescription": "Sales tax", **costs("8.78", "0.76"), "ListCost": D("10.21"), "ContractedCost": D("10.21"),
}  # fmt: skip
PURCHASE = {  # paid up front for a year of hours: EffectiveCost 0, amortized onto the Used/Unused rows
    **ACCOUNT, **REGION, **RESERVATION, **priced("0.10", "8760"), **costs("876", "0"),
    "SkuId": "SKU-RI-M5XL-LINUX-1YR-AU", "SkuPriceId": "SKU-RI-M5XL-LINUX-1YR-AU.UPFRONT",
    "SkuMeter": "Reserved Instance", "SkuPriceDetails": '{"InstanceType": "m5.xlarge"}',
    "ResourceId": RI_ID, "ResourceName": RI_NAME, "ResourceType": "Reserved Instance",
    "ChargeCategory": "Purchase", "ChargeFrequency": "One-Time", "PricingCategory": "Standard",
    "ChargePeriodStart": ts("2026-01-01T00:00:00"), "ChargePeriodEnd": ts("2026-01-01T01:00:00"),
    "ChargeDescription": "Sign up charge for reserved instance m5.xlarge Linux, 1 year All Upfront",
    "CommitmentDiscountQuantity": D("8760"),
}  # fmt: skip
USED = {  # 600 of January's 744 reserved hours ran web-1: billed 0, amortized 600 x 0.10
    **ACCOUNT, **REGION, **INSTANCE, **ON_DEMAND_SKU, **RESERVATION, **priced("0.192", "600"), **costs("0", "60"),
    "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based", "PricingCategory": "Committed",
    "CommitmentDiscountStatus": "Used", "CommitmentDiscountQuantity": D("600"),
    "ChargePeriodStart": ts("2026-01-01T00:00:00"), "ChargePeriodEnd": ts("2026-02-01T00:00:00"),
    "ChargeDescription": "Linux m5.xlarge reserved instance applied",
    "ConsumedQuantity": D("600"), "ConsumedUnit": "Hours",
}  # fmt: skip
UNUSED = {  # the other 144 hours: amortized 144 x 0.10, nothing consumed
    **ACCOUNT, **REGION, **ON_DEMAND_SKU, **RESERVATION, **priced("0.192", "144"), **costs("0", "14.4"),
    "ResourceId": RI_ID, "ResourceName": RI_NAME, "ResourceType": "Reserved Instance",
    "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based", "PricingCategory": "Committed",
    "CommitmentDiscountStatus": "Unused", "CommitmentDiscountQuantity": D("144"),
    "ChargePeriodStart": ts("2026-01-01T00:00:00"), "ChargePeriodEnd": ts("2026-02-01T00:00:00"),
    "ChargeDescription": "Unused reservation hours, m5.xlarge Linux",
}  # fmt: skip
CREDIT = {
    **ACCOUNT, **costs("-5", "-5"), "ListCost": D("-5"), "ContractedCost": D("-5"),
    "ChargeCategory": "Credit", "ChargeFrequency": "One-Time",
    "ChargePeriodStart": ts("2026-01-01T00:00:00"), "ChargePeriodEnd": ts("2026-02-01T00:00:00"),
    "ChargeDescription": "Promotional credit",
}  # fmt: skip
CORRECT_ROWS = [USAGE, TAX, PURCHASE, USED, UNUSED, CREDIT]


def arrow_table(rows: list[dict]) -> pa.Table:
    """Typed like the warehouse: DECIMAL(38, 18) money, naive TIMESTAMP (meaning UTC), VARCHAR otherwise."""
    columns = list(FOCUS_1_2_COLUMNS) + EXTRA_COLUMNS
    fields = []
    for name in columns:
        if name in DECIMAL_COLUMNS:
            kind = pa.decimal128(38, 18)
        elif name in DATETIME_COLUMNS:
            kind = pa.timestamp("us")
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows], schema=pa.schema(fields))


def write_focus(rows: list[dict], out: Path, transform: str = "") -> Path:
    """Load the rows into DuckDB (optionally reshaped by ``transform``, a SELECT list) and export them."""
    con = duckdb.connect()
    try:
        con.register("literal_rows", arrow_table(rows))
        con.execute(f"CREATE TABLE charges AS SELECT {transform or '*'} FROM literal_rows")
        return export_focus_parquet(con, "charges", out)
    finally:
        con.close()


@pytest.fixture(scope="module")
def exceptions() -> dict[str, str]:
    return load_exceptions(DEFAULT_EXCEPTIONS_FILE)


# --------------------------------------------------------------------------------------------------
# Against the real validator
# --------------------------------------------------------------------------------------------------


def test_correct_dataset_passes_the_validator(tmp_path: Path, exceptions: dict[str, str]) -> None:
    data = write_focus(CORRECT_ROWS, tmp_path / "focus.parquet")
    report = run_focus_validator(data, report_dir=tmp_path / "report")

    assert report.total > 0 and report.passed > 0
    assert report.total == report.passed + report.failed + report.skipped
    assert report.raw_report.exists()
    assert "Total:" in report.raw_report.read_text(encoding="utf-8")
    # The checks that need the currency list and the typed columns ran and passed.
    for rule in ("BillingCurrency-C-006-M", "BilledCost-C-003-M", "BillingAccountId-C-001-M",
                 "EffectiveCost-C-005-C", "ChargeFrequency-C-004-C", "PricingCategory-C-003-C"):  # fmt: skip
        assert report.statuses.get(rule) == "PASS", rule
    # Every listed exception names a rule this validator knows.
    assert set(exceptions) <= set(report.statuses)

    unexpected = unexpected_failures(report, exceptions)
    assert unexpected == [], "\n".join(f"{f.rule_id}: {f.message}" for f in unexpected)


def test_exceptions_excuse_only_rules_that_correct_data_cannot_pass(
    tmp_path: Path, exceptions: dict[str, str]
) -> None:
    """The same month before its invoice is issued (InvoiceId null), with the on-demand hours drawn from
    a capacity reservation: still correct, so it must pass too, while tripping the other half of the
    contradictory pairs (InvoiceId-C-004-C / -C-005-C, CapacityReservationStatus-C-003-C / -C-004-C)."""
    rows = copy.deepcopy(CORRECT_ROWS)
    for row in rows:
        row["InvoiceId"] = None
    rows[0]["CapacityReservationId"] = (
        "arn:aws:ec2:us-east-1:210987654321:capacity-reservation/cr-0a1b2c3d4e5f60718"
    )
    rows[0]["CapacityReservationStatus"] = "Used"
    report = run_focus_validator(
        write_focus(rows, tmp_path / "focus.parquet"), report_dir=tmp_path / "report"
    )

    assert {"InvoiceId-C-005-C", "CapacityReservationStatus-C-003-C"} <= report.failed_rule_ids
    unexpected = unexpected_failures(report, exceptions)
    assert unexpected == [], "\n".join(f"{f.rule_id}: {f.message}" for f in unexpected)


def test_broken_dataset_fails_on_the_expected_rules(tmp_path: Path, exceptions: dict[str, str]) -> None:
    rows = copy.deepcopy(CORRECT_ROWS)
    rows[0]["BilledCost"] = None  # BilledCost MUST NOT be null
    rows[1]["PricingCategory"] = "Standard"  # PricingCategory MUST be null when ChargeCategory is "Tax"
    rows[2]["ChargeFrequency"] = "Usage-Based"  # MUST NOT be "Usage-Based" when ChargeCategory is "Purchase"
    rows[5]["BillingCurrency"] = "XYZ"  # three capitals, but not an ISO 4217 code
    rows[3]["ConsumedQuantity"] = None  # ConsumedUnit MUST be null when ConsumedQuantity is null
    data = write_focus(rows, tmp_path / "broken.parquet")
    report = run_focus_validator(data, report_dir=tmp_path / "report")

    expected = {
        "BilledCost-C-003-M",
        "PricingCategory-C-003-C",
        "ChargeFrequency-C-004-C",
        "BillingCurrency-C-006-M",
        "ConsumedUnit-C-005-C",
    }
    assert expected <= report.failed_rule_ids, sorted(report.failed_rule_ids)
    unexpected = {f.rule_id for f in unexpected_failures(report, exceptions)}
    assert expected <= unexpected
    # The parents of a genuine failure are not excused either.
    assert "BilledCost-C-000-M" in unexpected and "CostAndUsage-D-000-M" in unexpected
    failure = next(f for f in report.failures if f.rule_id == "BilledCost-C-003-M")
    assert failure.violations == 1 and "BilledCost MUST NOT be null" in failure.message


# --------------------------------------------------------------------------------------------------
# Without the validator
# --------------------------------------------------------------------------------------------------


def test_export_keeps_types_and_only_focus_and_x_columns(tmp_path: Path) -> None:
    out = write_focus(CORRECT_ROWS, tmp_path / "focus.parquet")
    schema = pq.read_schema(out)
    names = schema.names
    assert names[: len(FOCUS_1_2_COLUMNS)] == list(FOCUS_1_2_COLUMNS)
    assert names[len(FOCUS_1_2_COLUMNS) :] == ["x_ServiceCode"]  # billing_period dropped
    assert pa.types.is_decimal(schema.field("BilledCost").type)
    assert schema.field("ChargePeriodStart").type == pa.timestamp("us", tz="UTC")
    assert schema.field("BillingAccountId").type == pa.string()
    table = pq.read_table(out)
    assert table.column("BillingAccountId")[0].as_py() == "123456789012"
    assert table.column("ChargePeriodStart")[0].as_py().isoformat() == "2026-01-10T00:00:00+00:00"
    assert table.column("EffectiveCost")[3].as_py() == Decimal(60)


def test_export_from_a_database_file_and_a_query(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    con.register("literal_rows", arrow_table(CORRECT_ROWS))
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.fct_focus_charges AS SELECT * REPLACE (timezone('UTC', ChargePeriodStart) "
        "AS ChargePeriodStart, json(Tags) AS Tags) FROM literal_rows"
    )
    con.close()
    out = export_focus_parquet(
        db, "SELECT * FROM marts.fct_focus_charges WHERE ChargeCategory = 'Usage'", tmp_path / "usage.parquet"
    )
    table = pq.read_table(out)
    assert table.num_rows == 3
    assert table.schema.field("ChargePeriodStart").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("Tags").type == pa.string()


def test_report_parsing_and_derived_composite_failures() -> None:
    text = """
=== Validation Results ===
Total: 5 | Pass: 1 | Fail: 3 | Skipped: 1
⏭️ A-C-009-C: SKIPPED  (violations=0, reason=dynamic)
✅ A-C-001-M: PASS  (violations=0, 1.0ms)
❌ A-C-000-M: FAIL  (violations=1, msg=A-C-000-M: AND failed - failed child rules: [A-C-004-C])
[FAIL] A-C-004-C: FAIL  (violations=3, msg=A MUST NOT be NULL.)
❌ CostAndUsage-D-000-M: FAIL  (violations=1)

--- Failures ---
- A-C-000-M: violations=1; A-C-000-M: AND failed - failed child rules: [A-C-004-C]
  MustSatisfy: The A column adheres to the following requirements:
- A-C-004-C: violations=3; A MUST NOT be NULL.
  MustSatisfy: A MUST NOT be null when B is not null.
- CostAndUsage-D-000-M: violations=1; CostAndUsage-D-000-M: AND failed - failed child rules: [A-C-000-M]
  MustSatisfy: The CostAndUsage dataset adheres to the following requirements:
"""
    report = parse_console_report(text, Path("report.txt"))
    assert (report.total, report.passed, report.failed, report.skipped) == (5, 1, 3, 1)
    assert [f.rule_id for f in report.failures] == ["A-C-000-M", "A-C-004-C", "CostAndUsage-D-000-M"]
    leaf = report.failures[1]
    assert leaf.violations == 3 and "A MUST NOT be null when B is not null." in leaf.message
    assert unexpected_failures(report, {"A-C-004-C": "impossible"}) == []
    assert [f.rule_id for f in unexpected_failures(report, {})] == [f.rule_id for f in report.failures]


def test_report_without_totals_is_an_error() -> None:
    from orchestration.conformance.focus_validator import ValidatorError

    with pytest.raises(ValidatorError, match="Total"):
        parse_console_report("Traceback (most recent call last):\n  boom\n", Path("report.txt"))


def test_exceptions_file_lists_reasoned_rule_ids(exceptions: dict[str, str]) -> None:
    assert exceptions
    for rule_id, reason in exceptions.items():
        assert len(reason) > 80, rule_id  # a concrete reason, not a label


def test_unexpected_failures_keeps_unlisted_rules() -> None:
    report = ValidatorReport(
        total=2, passed=0, failed=2, skipped=0, raw_report=Path("r.txt"),
        failures=[RuleFailure("X-C-001-M", "x"), RuleFailure("Y-C-002-C", "y")],
    )  # fmt: skip
    assert [f.rule_id for f in unexpected_failures(report, {"X-C-001-M": "reason"})] == ["Y-C-002-C"]


def test_a_folder_of_parquet_files_is_merged_without_partition_columns(tmp_path: Path) -> None:
    from orchestration.conformance.focus_validator import _single_parquet

    for month, rows in (("2026-01", CORRECT_ROWS[:3]), ("2026-02", CORRECT_ROWS[3:])):
        write_focus(rows, tmp_path / "focus" / f"BILLING_PERIOD={month}" / "part-0.parquet")
    merged = _single_parquet(tmp_path / "focus", tmp_path)
    table = pq.read_table(merged)
    assert table.num_rows == len(CORRECT_ROWS)
    assert "BILLING_PERIOD" not in table.schema.names
    with pytest.raises(ValueError, match="parquet"):
        _single_parquet(Path(__file__), tmp_path)
