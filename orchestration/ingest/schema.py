"""Column dictionaries of the billing formats and business inputs tfm reads.

The AWS names are the snake_case names of the CUR 2.0 data dictionary (AWS Data Exports); legacy CUR
headers map onto them with AWS's own Athena rule (see ``snake_case_cur_header``). The FOCUS columns are
those of FOCUS 1.0, 1.1 and 1.2, with the specification's data types. The business inputs (invoices, unit
drivers, SLIs, incidents) are tfm's own small formats, listed at the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Numeric CUR columns (``double`` in CUR 2.0). tfm stores them as exact DECIMAL.
CUR_NUMERIC_COLUMNS = frozenset(
    {
        "discount_bundled_discount",
        "discount_total_discount",
        "line_item_blended_cost",
        "line_item_net_unblended_cost",
        "line_item_normalization_factor",
        "line_item_normalized_usage_amount",
        "line_item_unblended_cost",
        "line_item_usage_amount",
        "pricing_public_on_demand_cost",
        "reservation_amortized_upfront_cost_for_usage",
        "reservation_amortized_upfront_fee_for_billing_period",
        "reservation_effective_cost",
        "reservation_net_amortized_upfront_cost_for_usage",
        "reservation_net_amortized_upfront_fee_for_billing_period",
        "reservation_net_effective_cost",
        "reservation_net_recurring_fee_for_usage",
        "reservation_net_unused_amortized_upfront_fee_for_billing_period",
        "reservation_net_unused_recurring_fee",
        "reservation_net_upfront_value",
        "reservation_recurring_fee_for_usage",
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        "reservation_unused_normalized_unit_quantity",
        "reservation_unused_quantity",
        "reservation_unused_recurring_fee",
        "reservation_upfront_value",
        "savings_plan_amortized_upfront_commitment_for_billing_period",
        "savings_plan_net_amortized_upfront_commitment_for_billing_period",
        "savings_plan_net_recurring_commitment_for_billing_period",
        "savings_plan_net_savings_plan_effective_cost",
        "savings_plan_recurring_commitment_for_billing_period",
        "savings_plan_savings_plan_effective_cost",
        "savings_plan_savings_plan_rate",
        "savings_plan_total_commitment_to_date",
        "savings_plan_used_commitment",
        "split_line_item_actual_usage",
        "split_line_item_net_split_cost",
        "split_line_item_net_unused_cost",
        "split_line_item_public_on_demand_split_cost",
        "split_line_item_public_on_demand_unused_cost",
        "split_line_item_reserved_usage",
        "split_line_item_split_cost",
        "split_line_item_split_usage",
        "split_line_item_split_usage_ratio",
        "split_line_item_unused_cost",
    }
)

# CUR string columns of the CUR 2.0 dictionary (identifiers stay strings, even when they look numeric).
CUR_STRING_COLUMNS = frozenset(
    {
        "bill_bill_type",
        "bill_billing_entity",
        "bill_invoice_id",
        "bill_invoicing_entity",
        "bill_payer_account_id",
        "bill_payer_account_name",
        "identity_line_item_id",
        "identity_time_interval",
        "line_item_availability_zone",
        "line_item_blended_rate",
        "line_item_currency_code",
        "line_item_iam_principal",
        "line_item_legal_entity",
        "line_item_line_item_description",
        "line_item_line_item_type",
        "line_item_net_unblended_rate",
        "line_item_operation",
        "line_item_product_code",
        "line_item_resource_id",
        "line_item_tax_type",
        "line_item_unblended_rate",
        "line_item_usage_account_id",
        "line_item_usage_account_name",
        "line_item_usage_type",
        "line_item_user_identifier",
        "pricing_currency",
        "pricing_lease_contract_length",
        "pricing_offering_class",
        "pricing_public_on_demand_rate",
        "pricing_purchase_option",
        "pricing_rate_code",
        "pricing_rate_id",
        "pricing_term",
        "pricing_unit",
        "product_comment",
        "product_fee_code",
        "product_fee_description",
        "product_from_location",
        "product_from_location_type",
        "product_from_region_code",
        "product_instance_family",
        "product_instance_type",
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
        "reservation_availability_zone",
        "reservation_end_time",
        "reservation_modification_status",
        "reservation_normalized_units_per_reservation",
        "reservation_number_of_reservations",
        "reservation_reservation_a_r_n",
        "reservation_start_time",
        "reservation_subscription_id",
        "reservation_total_reserved_normalized_units",
        "reservation_total_reserved_units",
        "reservation_units_per_reservation",
        "savings_plan_end_time",
        "savings_plan_instance_type_family",
        "savings_plan_offering_type",
        "savings_plan_payment_option",
        "savings_plan_purchase_term",
        "savings_plan_region",
        "savings_plan_savings_plan_a_r_n",
        "savings_plan_start_time",
        "split_line_item_parent_resource_id",
    }
)

CUR_TIMESTAMP_COLUMNS = frozenset(
    {
        "bill_billing_period_start_date",
        "bill_billing_period_end_date",
        "line_item_usage_start_date",
        "line_item_usage_end_date",
    }
)

# CUR 2.0 map columns and the DuckDB type each is stored as.
CUR_MAP_COLUMNS = {
    "product": "MAP(VARCHAR, VARCHAR)",
    "resource_tags": "MAP(VARCHAR, VARCHAR)",
    "cost_category": "MAP(VARCHAR, VARCHAR)",
    "tags": "MAP(VARCHAR, VARCHAR)",
    "discount": "MAP(VARCHAR, DECIMAL(38, 18))",
}

# Columns of the legacy formats that the CUR 2.0 dictionary no longer lists but that are numeric: the
# cost, rate, amount and fee columns of the line-item, pricing, reservation, savings-plan, discount and
# split groups. Product attributes are strings whatever their names ("NA", "Up to 10 Gigabit").
_NUMERIC_GROUPS = ("line_item_", "pricing_", "reservation_", "savings_plan_", "discount_", "split_line_item_")
_NUMERIC_SUFFIX = re.compile(r"_(cost|costs|rate|amount|fee|fees|value|commitment|to_date|quantity|factor|discount|usage)$")

# Numeric values that the CUR 2.0 dictionary types as strings: unit prices and reservation unit counts.
# They are money or quantities, so tfm stores them as exact DECIMAL too.
CUR_NUMERIC_STRINGS = frozenset(
    {
        "line_item_blended_rate", "line_item_net_unblended_rate", "line_item_unblended_rate",
        "pricing_public_on_demand_rate", "reservation_normalized_units_per_reservation",
        "reservation_number_of_reservations", "reservation_total_reserved_normalized_units",
        "reservation_total_reserved_units", "reservation_units_per_reservation",
    }
)  # fmt: skip

MONEY_TYPE = "DECIMAL(38, 18)"


def snake_case_cur_header(header: str) -> str:
    """Map a legacy CUR CSV header to its Athena / CUR 2.0 name, the way AWS does.

    ``lineItem/UnblendedCost`` -> ``line_item_unblended_cost``; ``reservation/ReservationARN`` ->
    ``reservation_reservation_a_r_n``; ``resourceTags/user:Name`` -> ``resource_tags_user_name``.
    Every capital letter starts a new word and every other non-alphanumeric character separates words.
    """
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


def cur_column_type(name: str) -> str:
    """The DuckDB type tfm stores a CUR column (snake_case name) as."""
    if name in CUR_TIMESTAMP_COLUMNS:
        return "TIMESTAMP"
    if name in CUR_MAP_COLUMNS:
        return CUR_MAP_COLUMNS[name]
    if name in CUR_NUMERIC_COLUMNS or name in CUR_NUMERIC_STRINGS:
        return MONEY_TYPE
    if name in CUR_STRING_COLUMNS:
        return "VARCHAR"
    if name.startswith(_NUMERIC_GROUPS) and _NUMERIC_SUFFIX.search(name):
        return MONEY_TYPE
    return "VARCHAR"


# FOCUS columns by the version that introduced them.
FOCUS_1_0_COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
    "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
)  # fmt: skip
FOCUS_1_1_ADDED = (
    "CapacityReservationId", "CapacityReservationStatus", "CommitmentDiscountQuantity",
    "CommitmentDiscountUnit", "ServiceSubcategory", "SkuMeter", "SkuPriceDetails",
)  # fmt: skip
FOCUS_1_2_ADDED = (
    "BillingAccountType", "InvoiceId", "PricingCurrency", "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "SubAccountType",
)  # fmt: skip
FOCUS_COLUMNS = FOCUS_1_0_COLUMNS + FOCUS_1_1_ADDED + FOCUS_1_2_ADDED
# The 57 FOCUS 1.2 columns in the specification's (alphabetical) order.
FOCUS_1_2_COLUMNS: tuple[str, ...] = tuple(sorted(FOCUS_COLUMNS))

FOCUS_DECIMAL_COLUMNS = frozenset(
    {
        "BilledCost", "CommitmentDiscountQuantity", "ConsumedQuantity", "ContractedCost",
        "ContractedUnitPrice", "EffectiveCost", "ListCost", "ListUnitPrice", "PricingQuantity",
        "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice",
    }
)  # fmt: skip
FOCUS_DATETIME_COLUMNS = frozenset({"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"})


def focus_version(columns: set[str]) -> str:
    """The FOCUS version a file's columns say it is: the newest version whose added columns appear."""
    if columns & set(FOCUS_1_2_ADDED):
        return "1.2"
    if columns & set(FOCUS_1_1_ADDED):
        return "1.1"
    return "1.0"


def focus_column_type(name: str) -> str:
    if name in FOCUS_DECIMAL_COLUMNS:
        return MONEY_TYPE
    if name in FOCUS_DATETIME_COLUMNS:
        return "TIMESTAMP"
    return "VARCHAR"


# --- business inputs -------------------------------------------------------------------------------
# What a company delivers beside its bills: invoices, business volumes, SLIs and incidents. Each is
# recognised by its columns (``shape``), and each row belongs to the month of its ``period_column``.
# Column kinds: VARCHAR (text, ids), BIGINT (a whole count: ``12.5`` or ``1,000`` is rejected), DATE
# (``YYYY-MM-DD``), MONTH (``YYYY-MM``, stored as the month's first day), TIMESTAMP (UTC) and MONEY.

MONTH_KIND = "MONTH"


@dataclass(frozen=True)
class BusinessInput:
    name: str
    description: str
    period_column: str
    columns: tuple[tuple[str, str], ...]  # (name, kind): the shape's columns, then optional ones
    shape: frozenset[str]  # the columns a file must have, and is recognised by
    not_empty: frozenset[str]  # columns a row must fill (a row without them cannot be used)
    cost_column: str | None = None  # money reported back per period (the invoices' total)


BUSINESS_INPUTS: dict[str, BusinessInput] = {
    b.name: b
    for b in (
        BusinessInput(
            "invoices",
            "Invoices",
            period_column="billing_period",
            columns=(
                ("billing_account_id", "VARCHAR"), ("billing_period", MONTH_KIND), ("invoice_id", "VARCHAR"),
                ("currency", "VARCHAR"), ("total", MONEY_TYPE), ("provider", "VARCHAR"), ("issued_at", "TIMESTAMP"),
            ),
            shape=frozenset({"billing_account_id", "billing_period", "invoice_id", "currency", "total"}),
            not_empty=frozenset({"billing_account_id", "billing_period", "invoice_id", "currency", "total"}),
            cost_column="total",
        ),
        BusinessInput(
            "unit_drivers",
            "Unit drivers (business volumes)",
            period_column="date",
            columns=(
                ("date", "DATE"), ("product", "VARCHAR"), ("requests", "BIGINT"), ("transactions", "BIGINT"),
                ("active_customers", "BIGINT"),
            ),
            shape=frozenset({"date", "product", "requests", "transactions", "active_customers"}),
            not_empty=frozenset({"date", "product", "requests", "transactions", "active_customers"}),
        ),
        BusinessInput(
            "sli_daily",
            "SLIs (daily good and total events)",
            period_column="date",
            columns=(
                ("date", "DATE"), ("service", "VARCHAR"), ("sli_name", "VARCHAR"), ("good_events", "BIGINT"),
                ("total_events", "BIGINT"),
            ),
            shape=frozenset({"date", "service", "sli_name", "good_events", "total_events"}),
            not_empty=frozenset({"date", "service", "sli_name", "good_events", "total_events"}),
        ),
        BusinessInput(
            "incidents",
            "Incidents",
            period_column="started_at",
            columns=(
                ("incident_id", "VARCHAR"), ("started_at", "TIMESTAMP"), ("ended_at", "TIMESTAMP"),
                ("affected_service", "VARCHAR"), ("severity", "VARCHAR"), ("summary", "VARCHAR"),
            ),
            shape=frozenset({"incident_id", "started_at", "ended_at", "affected_service", "severity", "summary"}),
            not_empty=frozenset({"incident_id", "started_at", "ended_at", "affected_service"}),
        ),
    )
}  # fmt: skip


def business_column_type(kind: str) -> str:
    """The DuckDB type a business column of a kind is stored as (a month is the DATE of its first day)."""
    return "DATE" if kind == MONTH_KIND else kind
