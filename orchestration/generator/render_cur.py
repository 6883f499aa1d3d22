"""Render batches as CUR 2.0 (parquet or gzip CSV) and legacy CUR (gzip CSV) columns."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from orchestration.generator import catalog as cat
from orchestration.generator import rows as R
from orchestration.generator.rand import generator
from orchestration.generator.tables import PeriodTables, Tables, lookup, take
from orchestration.generator.world import MAP_STR, UNIT, World
from orchestration.ingest.schema import snake_case_cur_header

MAP_DOUBLE = pa.map_(pa.string(), pa.float64())

# CUR 2.0 columns in the order of the AWS data dictionary (INCLUDE_RESOURCES=TRUE; without the optional
# split_line_item_* and capacity_reservation_* groups).
CUR2_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (name, kind)
    for kind, names in (
        ("string", "identity_line_item_id identity_time_interval bill_bill_type bill_billing_entity"),
        ("timestamp", "bill_billing_period_end_date bill_billing_period_start_date"),
        (
            "string",
            (
                "bill_invoice_id bill_invoicing_entity bill_payer_account_id bill_payer_account_name"
                " line_item_availability_zone"
            ),
        ),
        ("double", "line_item_blended_cost"),
        (
            "string",
            (
                "line_item_blended_rate line_item_currency_code line_item_iam_principal line_item_legal_entity"
                " line_item_line_item_description line_item_line_item_type"
            ),
        ),
        ("double", "line_item_net_unblended_cost"),
        ("string", "line_item_net_unblended_rate"),
        ("double", "line_item_normalization_factor line_item_normalized_usage_amount"),
        ("string", "line_item_operation line_item_product_code line_item_resource_id line_item_tax_type"),
        ("double", "line_item_unblended_cost"),
        ("string", "line_item_unblended_rate line_item_usage_account_id line_item_usage_account_name"),
        ("double", "line_item_usage_amount"),
        ("timestamp", "line_item_usage_end_date line_item_usage_start_date"),
        (
            "string",
            (
                "line_item_usage_type line_item_user_identifier pricing_currency pricing_lease_contract_length"
                " pricing_offering_class"
            ),
        ),
        ("double", "pricing_public_on_demand_cost"),
        (
            "string",
            (
                "pricing_public_on_demand_rate pricing_purchase_option pricing_rate_code pricing_rate_id"
                " pricing_term pricing_unit"
            ),
        ),
        ("map", "product"),
        (
            "string",
            (
                "product_comment product_fee_code product_fee_description product_from_location"
                " product_from_location_type product_from_region_code product_instance_family"
                " product_instance_type product_instancesku product_location product_location_type"
                " product_operation product_pricing_unit product_product_family product_region_code"
                " product_servicecode product_sku product_to_location product_to_location_type"
                " product_to_region_code product_usagetype"
            ),
        ),
        (
            "double",
            "reservation_amortized_upfront_cost_for_usage reservation_amortized_upfront_fee_for_billing_period",
        ),
        ("string", "reservation_availability_zone"),
        ("double", "reservation_effective_cost"),
        ("string", "reservation_end_time reservation_modification_status"),
        (
            "double",
            (
                "reservation_net_amortized_upfront_cost_for_usage"
                " reservation_net_amortized_upfront_fee_for_billing_period reservation_net_effective_cost"
                " reservation_net_recurring_fee_for_usage"
                " reservation_net_unused_amortized_upfront_fee_for_billing_period"
                " reservation_net_unused_recurring_fee reservation_net_upfront_value"
            ),
        ),
        ("string", "reservation_normalized_units_per_reservation reservation_number_of_reservations"),
        ("double", "reservation_recurring_fee_for_usage"),
        (
            "string",
            (
                "reservation_reservation_a_r_n reservation_start_time reservation_subscription_id"
                " reservation_total_reserved_normalized_units reservation_total_reserved_units"
                " reservation_units_per_reservation"
            ),
        ),
        (
            "double",
            (
                "reservation_unused_amortized_upfront_fee_for_billing_period"
                " reservation_unused_normalized_unit_quantity reservation_unused_quantity"
                " reservation_unused_recurring_fee reservation_upfront_value"
                " savings_plan_amortized_upfront_commitment_for_billing_period"
            ),
        ),
        ("string", "savings_plan_end_time savings_plan_instance_type_family"),
        (
            "double",
            (
                "savings_plan_net_amortized_upfront_commitment_for_billing_period"
                " savings_plan_net_recurring_commitment_for_billing_period"
                " savings_plan_net_savings_plan_effective_cost"
            ),
        ),
        ("string", "savings_plan_offering_type savings_plan_payment_option savings_plan_purchase_term"),
        ("double", "savings_plan_recurring_commitment_for_billing_period"),
        ("string", "savings_plan_region savings_plan_savings_plan_a_r_n"),
        ("double", "savings_plan_savings_plan_effective_cost savings_plan_savings_plan_rate"),
        ("string", "savings_plan_start_time"),
        ("double", "savings_plan_total_commitment_to_date savings_plan_used_commitment"),
        ("map_double", "discount"),
        ("double", "discount_bundled_discount discount_total_discount"),
        ("map", "cost_category resource_tags tags"),
    )
    for name in names.split()
)
CUR2_COLUMN_NAMES = tuple(name for name, _ in CUR2_COLUMNS)
CUR2_TYPES = dict(CUR2_COLUMNS)

# Legacy CUR CSV header, in the order of the real export: the public sample's columns, plus
# lineItem/ResourceId (INCLUDE_RESOURCES), the RI/SP attribute columns, and the tag and cost-category columns.
_PRODUCT_ATTRS = [
    "ProductName",
    "availability",
    "databaseEngine",
    "deploymentOption",
    "durability",
    "eventType",
    "feeCode",
    "feeDescription",
    "fromLocation",
    "fromLocationType",
    "fromRegionCode",
    "group",
    "groupDescription",
    "instanceFamily",
    "instanceType",
    "location",
    "locationType",
    "memory",
    "messageDeliveryFrequency",
    "messageDeliveryOrder",
    "operatingSystem",
    "operation",
    "overhead",
    "physicalProcessor",
    "productFamily",
    "productType",
    "queueType",
    "region",
    "regionCode",
    "servicecode",
    "servicename",
    "sku",
    "storageClass",
    "storageMedia",
    "tenancy",
    "toLocation",
    "toLocationType",
    "toRegionCode",
    "transferType",
    "usagetype",
    "vcpu",
    "version",
    "volumeType",
]
LEGACY_COLUMNS: tuple[str, ...] = (
    "identity/LineItemId",
    "identity/TimeInterval",
    "bill/InvoiceId",
    "bill/InvoicingEntity",
    "bill/BillingEntity",
    "bill/BillType",
    "bill/PayerAccountId",
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/Operation",
    "lineItem/AvailabilityZone",
    "lineItem/ResourceId",
    "lineItem/UsageAmount",
    "lineItem/NormalizationFactor",
    "lineItem/NormalizedUsageAmount",
    "lineItem/CurrencyCode",
    "lineItem/UnblendedRate",
    "lineItem/UnblendedCost",
    "lineItem/BlendedRate",
    "lineItem/BlendedCost",
    "lineItem/LineItemDescription",
    "lineItem/TaxType",
    "lineItem/LegalEntity",
    *(f"product/{a}" for a in _PRODUCT_ATTRS),
    "pricing/LeaseContractLength",
    "pricing/OfferingClass",
    "pricing/PurchaseOption",
    "pricing/RateCode",
    "pricing/RateId",
    "pricing/currency",
    "pricing/publicOnDemandCost",
    "pricing/publicOnDemandRate",
    "pricing/term",
    "pricing/unit",
    "reservation/AmortizedUpfrontCostForUsage",
    "reservation/AmortizedUpfrontFeeForBillingPeriod",
    "reservation/AvailabilityZone",
    "reservation/EffectiveCost",
    "reservation/EndTime",
    "reservation/ModificationStatus",
    "reservation/NormalizedUnitsPerReservation",
    "reservation/NumberOfReservations",
    "reservation/RecurringFeeForUsage",
    "reservation/ReservationARN",
    "reservation/StartTime",
    "reservation/SubscriptionId",
    "reservation/TotalReservedNormalizedUnits",
    "reservation/TotalReservedUnits",
    "reservation/UnitsPerReservation",
    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "reservation/UnusedNormalizedUnitQuantity",
    "reservation/UnusedQuantity",
    "reservation/UnusedRecurringFee",
    "reservation/UpfrontValue",
    "savingsPlan/TotalCommitmentToDate",
    "savingsPlan/SavingsPlanARN",
    "savingsPlan/SavingsPlanRate",
    "savingsPlan/UsedCommitment",
    "savingsPlan/SavingsPlanEffectiveCost",
    "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod",
    "savingsPlan/RecurringCommitmentForBillingPeriod",
    "savingsPlan/StartTime",
    "savingsPlan/EndTime",
    "savingsPlan/OfferingType",
    "savingsPlan/PaymentOption",
    "savingsPlan/PurchaseTerm",
    "savingsPlan/Region",
    "savingsPlan/InstanceTypeFamily",
    *(c for c, _ in cat.LEGACY_TAG_COLUMNS),
    *(f"costCategory/{k}" for k in cat.COST_CATEGORY_KEYS),
)


snake_case = snake_case_cur_header  # AWS's Athena rule, shared with ingestion


def legacy_source(header: str) -> tuple[str, str]:
    """Where a legacy column's values come from: ("cur2", column), ("product", map key), ("tag", header) or
    ("cost_category", key)."""
    if header.startswith("resourceTags/"):
        return "tag", header
    if header.startswith("costCategory/"):
        return "cost_category", header.split("/", 1)[1]
    name = snake_case(header)
    if name in CUR2_TYPES:
        return "cur2", name
    if name.startswith("product_"):
        return "product", name[len("product_") :]
    raise KeyError(header)


def arrow_type(kind: str, csv: bool) -> pa.DataType:
    if csv:
        return pa.float64() if kind == "double" else pa.string()
    return {
        "string": pa.string(),
        "double": pa.float64(),
        "timestamp": pa.timestamp("ms"),
        "map": MAP_STR,
        "map_double": MAP_DOUBLE,
    }[kind]


def cur2_schema(csv: bool) -> pa.Schema:
    return pa.schema([pa.field(name, arrow_type(kind, csv)) for name, kind in CUR2_COLUMNS])


def legacy_schema() -> pa.Schema:
    fields = []
    for header in LEGACY_COLUMNS:
        source, name = legacy_source(header)
        kind = CUR2_TYPES[name] if source == "cur2" else "string"
        fields.append(pa.field(header, pa.float64() if kind == "double" else pa.string()))
    return pa.schema(fields)


_ID_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", np.uint8)


def line_item_ids(seed: int, period_index: int, seq: int, n: int) -> pa.Array:
    """52-character lower-case base32 ids, random per (seed, period, chunk)."""
    rng = generator(seed, 11, period_index, seq)
    chars = _ID_ALPHABET[np.frombuffer(rng.bytes(n * 52), np.uint8) & 31]
    offsets = np.arange(0, (n + 1) * 52, 52, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def _const(value: str, n: int) -> pa.Array:
    """A string column holding ``value`` n times (built from raw buffers, no per-row work)."""
    data = value.encode()
    offsets = np.arange(n + 1, dtype=np.int32) * len(data)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))


_LINE_ITEM_TYPES = pa.array(list(R.LINE_ITEM_TYPE), pa.string())
_BILL_TYPES = pa.array(
    [
        "Purchase" if i in (R.RI_UPFRONT, R.SP_UPFRONT) else "Refund" if i == R.REFUND else "Anniversary"
        for i in range(len(R.LINE_ITEM_TYPE))
    ]
)
_PRICING_TERMS = pa.array(
    [
        "OnDemand"
        if i in (R.USAGE, R.SP_USAGE, R.SP_NEG)
        else "Reserved"
        if i in (R.RI_USAGE, R.RI_FEE, R.RI_UPFRONT)
        else ""
        for i in range(len(R.LINE_ITEM_TYPE))
    ]
)
_ORIGINAL = pa.array(["Original", ""])


class CurRenderer:
    """Column values of one batch.

    ``csv`` renders maps as JSON and timestamps as ISO strings; ``legacy`` leaves RI/SP amounts empty where
    they do not apply and writes dates without milliseconds. Low-cardinality string columns come out
    dictionary-encoded (see ``tables.lookup``); they are plain strings in the files.
    """

    NET = frozenset(n for n, _ in CUR2_COLUMNS if "_net_" in n or n.startswith("discount_"))

    def __init__(
        self,
        world: World,
        tables: Tables,
        ptables: PeriodTables,
        batch: R.Batch,
        *,
        csv: bool,
        legacy: bool = False,
    ) -> None:
        self.world, self.t, self.p, self.b = world, tables, ptables, batch
        self.csv, self.legacy = csv, legacy
        self.n = batch.n
        b = batch
        self.commit_idx = np.where(b.commit >= 0, b.commit, tables.n_commit)
        self.ri_rows = np.isin(b.lt, R.RI_TYPES) & (b.commit >= 0)
        self.sp_rows = np.isin(b.lt, R.SP_TYPES) & (b.commit >= 0)
        self.usage_rows = np.isin(b.lt, R.USAGE_TYPES)
        self.res_idx = np.where(b.res >= 0, b.res, world.pool.size)
        n_combo = len(world.pool.combo_tags)
        self.combo_idx = np.where(b.res >= 0, world.pool.tag_combo[np.maximum(b.res, 0)], n_combo - 1)
        self._cache: dict[str, pa.Array] = {}

    # --- helpers ---
    def sku(self, field: str) -> pa.Array:
        return lookup(self.world.skus.strings[field], self.b.sku)

    def account(self, table: pa.Array) -> pa.Array:
        return lookup(table, self.b.account)

    def commit(self, field: str, rows: np.ndarray) -> pa.Array:
        return lookup(self.t.commit_blank[field], np.where(rows, self.commit_idx, self.t.n_commit))

    def money(self, units: np.ndarray) -> pa.Array:
        return pa.array(units / UNIT, pa.float64())

    def extra(self, name: str) -> pa.Array:
        """A reservation_* / savings_plan_* / discount_* column from the batch's sparse extras."""
        values = self.b.extra.get(name)
        is_double = CUR2_TYPES.get(name) == "double"
        zero_fill = not self.legacy and name not in self.NET
        if values is None:
            if not is_double:
                return _const("", self.n)
            return pa.array(np.zeros(self.n)) if zero_fill else pa.nulls(self.n, pa.float64())
        if values.dtype == object:
            return pa.array(values, pa.string())
        if zero_fill:
            return pa.array(np.nan_to_num(values, nan=0.0), pa.float64())
        return pa.array(values, pa.float64(), from_pandas=True)

    def timestamp(self, ms: np.ndarray, slots: np.ndarray, end: bool) -> pa.Array:
        if not self.csv:
            return pa.array(ms, pa.timestamp("ms"))
        p = self.p
        table = (
            (p.end_iso if end else p.start_iso) if self.legacy else (p.end_iso_ms if end else p.start_iso_ms)
        )
        return lookup(table, slots)

    # --- columns ---
    def get(self, name: str) -> pa.Array:
        if name not in self._cache:
            self._cache[name] = self._compute(name)
        return self._cache[name]

    def _compute(self, name: str) -> pa.Array:
        b, w, t, p, n = self.b, self.world, self.t, self.p, self.n
        n_sku = len(w.skus)
        month = np.full(n, p.period.days)
        special: dict[str, Callable[[], pa.Array]] = {
            "identity_line_item_id": lambda: line_item_ids(w.config.seed, p.period.index, b.seq, n),
            "identity_time_interval": lambda: lookup(p.interval, b.slot),
            "bill_bill_type": lambda: lookup(_BILL_TYPES, b.lt),
            "bill_billing_entity": lambda: _const("AWS", n),
            "bill_billing_period_end_date": lambda: self.timestamp(np.full(n, p.period_end_ms), month, True),
            "bill_billing_period_start_date": lambda: self.timestamp(
                np.full(n, p.period_start_ms), month, False
            ),
            "bill_invoice_id": lambda: self.account(p.invoice),
            "bill_invoicing_entity": lambda: self.account(t.entity),
            "bill_payer_account_id": lambda: self.account(t.payer_id),
            "bill_payer_account_name": lambda: self.account(t.payer_name),
            "line_item_availability_zone": lambda: lookup(w.pool.az_names, w.pool.az_code[self.res_idx]),
            "line_item_blended_cost": lambda: self.money(b.cost),
            "line_item_blended_rate": lambda: self.get("line_item_unblended_rate"),
            "line_item_currency_code": lambda: _const("USD", n),
            "line_item_iam_principal": lambda: _const("", n),
            "line_item_legal_entity": lambda: self.account(t.entity),
            "line_item_line_item_description": lambda: lookup(
                t.description,
                b.sku
                + n_sku * np.select([b.lt == R.RI_USAGE, b.lt == R.SP_USAGE, b.lt == R.SP_NEG], [1, 2, 3], 0),
            ),
            "line_item_line_item_type": lambda: lookup(_LINE_ITEM_TYPES, b.lt),
            "line_item_net_unblended_cost": lambda: pa.nulls(n, pa.float64()),
            "line_item_net_unblended_rate": lambda: pa.nulls(n, pa.string()),
            "line_item_normalization_factor": lambda: self._normalization()[0],
            "line_item_normalized_usage_amount": lambda: self._normalization()[1],
            "line_item_operation": lambda: self.sku("operation"),
            "line_item_product_code": lambda: self.sku("product_code"),
            "line_item_resource_id": self._resource_id,
            "line_item_tax_type": lambda: lookup(
                t.tax_type_or_blank, np.where(b.lt == R.TAX, b.account, len(w.accounts))
            ),
            "line_item_unblended_cost": lambda: self.money(b.cost),
            "line_item_unblended_rate": lambda: lookup(
                t.rate,
                np.select(
                    [b.lt == R.RI_USAGE, np.isin(b.lt, (R.TAX, R.CREDIT, R.REFUND))],
                    [n_sku, n_sku + 1],
                    b.sku,
                ),
            ),
            "line_item_usage_account_id": lambda: self.account(t.account_id),
            "line_item_usage_account_name": lambda: self.account(t.account_name),
            "line_item_usage_amount": lambda: pa.array(b.amount, pa.float64()),
            "line_item_usage_end_date": lambda: self.timestamp(p.slot_end_ms[b.slot], b.slot, True),
            "line_item_usage_start_date": lambda: self.timestamp(p.slot_start_ms[b.slot], b.slot, False),
            "line_item_usage_type": lambda: self.sku("usage_type"),
            "line_item_user_identifier": lambda: _const("", n),
            "pricing_currency": lambda: _const("USD", n),
            "pricing_lease_contract_length": lambda: self.commit("lease", self.ri_rows),
            "pricing_offering_class": lambda: self.commit("offering_class", self.ri_rows),
            "pricing_public_on_demand_cost": lambda: self.money(np.where(self.usage_rows, b.list_cost, 0)),
            "pricing_public_on_demand_rate": lambda: lookup(
                t.rate, np.where(self.usage_rows, b.sku, n_sku + 1)
            ),
            "pricing_purchase_option": lambda: self.commit("option", self.ri_rows),
            "pricing_rate_code": lambda: lookup(
                t.rate_codes, np.where(self.ri_rows & (b.lt != R.RI_UNUSED), n_sku + self.commit_idx, b.sku)
            ),
            "pricing_rate_id": lambda: self.sku("rate_id"),
            "pricing_term": lambda: lookup(_PRICING_TERMS, b.lt),
            "pricing_unit": lambda: self.sku("unit"),
            "product": lambda: (
                lookup(w.skus.product_json, b.sku) if self.csv else take(w.skus.product_map, b.sku)
            ),
            "product_comment": lambda: _const("", n),
            "product_instancesku": lambda: _const("", n),
            "product_operation": lambda: self.sku("operation"),
            "product_pricing_unit": lambda: self.sku("unit"),
            "product_servicecode": lambda: self.sku("product_code"),
            "product_usagetype": lambda: self.sku("usage_type"),
            "reservation_availability_zone": lambda: _const("", n),
            "reservation_end_time": lambda: self.commit("end", self.ri_rows),
            "reservation_modification_status": lambda: lookup(_ORIGINAL, np.where(self.ri_rows, 0, 1)),
            "reservation_reservation_a_r_n": lambda: self.commit("arn", self.ri_rows),
            "reservation_start_time": lambda: self.commit("start", self.ri_rows),
            "reservation_subscription_id": lambda: self.commit("subscription_id", self.ri_rows),
            "savings_plan_end_time": lambda: self.commit("end", self.sp_rows),
            "savings_plan_instance_type_family": lambda: self.commit("sp_family", self.sp_rows),
            "savings_plan_offering_type": lambda: self.commit("offering_type", self.sp_rows),
            "savings_plan_payment_option": lambda: self.commit("option", self.sp_rows),
            "savings_plan_purchase_term": lambda: self.commit("term", self.sp_rows),
            "savings_plan_region": lambda: self.commit("sp_region", self.sp_rows),
            "savings_plan_savings_plan_a_r_n": lambda: self.commit("arn", self.sp_rows),
            "savings_plan_start_time": lambda: self.commit("start", self.sp_rows),
            "discount": self._discount,
            "cost_category": lambda: (
                lookup(t.cost_category_json, b.account) if self.csv else take(t.cost_category, b.account)
            ),
            "resource_tags": lambda: (
                lookup(w.pool.combo_resource_tags_json, self.combo_idx)
                if self.csv
                else take(w.pool.combo_resource_tags, self.combo_idx)
            ),
            "tags": lambda: (
                lookup(w.pool.combo_tags_json, self.combo_idx)
                if self.csv
                else take(w.pool.combo_tags, self.combo_idx)
            ),
        }
        if name in special:
            return special[name]()
        if name.startswith("product_"):
            return self.sku(name[len("product_") :])
        return self.extra(name)

    def _normalization(self) -> tuple[pa.Array, pa.Array]:
        nf = self.world.skus.normalization[self.b.sku]
        nf = np.where(self.usage_rows, nf, np.nan)
        return (
            pa.array(nf, pa.float64(), from_pandas=True),
            pa.array(np.round(self.b.amount * nf, 8), pa.float64(), from_pandas=True),
        )

    def _resource_id(self) -> pa.Array:
        """Resource ids; the Savings Plan fee rows carry the plan's ARN."""
        pool = self.world.pool
        idx = self.res_idx
        sp_fee = np.isin(self.b.lt, (R.SP_RECUR, R.SP_UPFRONT))
        if sp_fee.any():
            arns = pa.concat_arrays([pool.resource_id, self.t.commit_blank["arn"]])
            return take(arns, np.where(sp_fee, pool.size + 1 + self.commit_idx, idx))
        return take(pool.resource_id, idx)

    def _discount(self) -> pa.Array:
        if self.csv:
            return _const("{}", self.n)
        offsets = pa.array(np.zeros(self.n + 1, np.int32))
        return pa.MapArray.from_arrays(offsets, pa.array([], pa.string()), pa.array([], pa.float64()))

    # --- tables ---
    def cur2_table(self) -> pa.Table:
        return pa.Table.from_arrays(
            [self.get(name) for name in CUR2_COLUMN_NAMES], names=list(CUR2_COLUMN_NAMES)
        )

    def legacy_table(self) -> pa.Table:
        arrays = []
        for header in LEGACY_COLUMNS:
            source, key = legacy_source(header)
            if source == "cur2":
                arrays.append(self.get(key))
            elif source == "product":
                arrays.append(lookup(self.t.product_key(self.world, key), self.b.sku))
            elif source == "tag":
                arrays.append(lookup(self.world.pool.combo_legacy[key], self.combo_idx))
            else:
                arrays.append(lookup(self.t.cost_category_values[key], self.b.account))
        return pa.Table.from_arrays(arrays, names=list(LEGACY_COLUMNS))
