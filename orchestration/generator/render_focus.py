"""Render batches as FOCUS 1.2 columns (the 57 specification columns, then AWS's three ``x_`` columns).

Costs, unit prices and quantities are ``decimal128(38, 10)`` in parquet and plain decimal text in CSV
(the same 10-decimal values); datetimes are UTC timestamps (ms) in parquet and ``YYYY-MM-DDTHH:mm:ssZ``
in CSV; ``Tags``, ``SkuPriceDetails`` and ``x_Discounts`` are JSON object strings; every value that does
not apply is NULL (never an empty string).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.generator import rows as R
from orchestration.generator.tables import PeriodTables, Tables, lookup, take
from orchestration.generator.world import UNIT, World
from orchestration.ingest.schema import FOCUS_1_2_COLUMNS

DECIMAL = pa.decimal128(38, 10)
FOCUS_COLUMNS = FOCUS_1_2_COLUMNS
AWS_EXTENSION_COLUMNS = ("x_Discounts", "x_Operation", "x_ServiceCode")
DECIMAL_COLUMNS = frozenset(
    {
        "BilledCost",
        "CommitmentDiscountQuantity",
        "ConsumedQuantity",
        "ContractedCost",
        "ContractedUnitPrice",
        "EffectiveCost",
        "ListCost",
        "ListUnitPrice",
        "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost",
        "PricingCurrencyListUnitPrice",
        "PricingQuantity",
    }
)
DATETIME_COLUMNS = frozenset(
    {"BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"}
)

_CATEGORY = (
    {R.TAX: "Tax", R.CREDIT: "Credit", R.REFUND: "Credit"}
    | dict.fromkeys((R.RI_FEE, R.RI_UPFRONT, R.SP_RECUR, R.SP_UPFRONT, R.SUPPORT), "Purchase")
    | dict.fromkeys((R.USAGE, R.RI_USAGE, R.SP_USAGE, R.RI_UNUSED, R.SP_UNUSED), "Usage")
)
_FREQUENCY = (
    dict.fromkeys((R.USAGE, R.RI_USAGE, R.SP_USAGE, R.RI_UNUSED, R.SP_UNUSED), "Usage-Based")
    | dict.fromkeys((R.RI_FEE, R.SP_RECUR, R.SUPPORT, R.TAX), "Recurring")
    | dict.fromkeys((R.RI_UPFRONT, R.SP_UPFRONT, R.CREDIT, R.REFUND), "One-Time")
)
_PRICING = (
    {R.USAGE: "Standard", R.SUPPORT: "Standard"}
    | dict.fromkeys((R.RI_USAGE, R.SP_USAGE, R.RI_UNUSED, R.SP_UNUSED), "Committed")
    | dict.fromkeys((R.RI_FEE, R.RI_UPFRONT, R.SP_RECUR, R.SP_UPFRONT), "Standard")
)
_STATUS = {R.RI_USAGE: "Used", R.SP_USAGE: "Used", R.RI_UNUSED: "Unused", R.SP_UNUSED: "Unused"}
_CONSUMED = (R.USAGE, R.RI_USAGE, R.SP_USAGE)
_UNUSED = (R.RI_UNUSED, R.SP_UNUSED)


def focus_schema(csv: bool) -> pa.Schema:
    fields = []
    for name in FOCUS_COLUMNS + AWS_EXTENSION_COLUMNS:
        if name in DECIMAL_COLUMNS:
            fields.append(pa.field(name, pa.float64() if csv else DECIMAL))
        elif name in DATETIME_COLUMNS and not csv:
            fields.append(pa.field(name, pa.timestamp("ms", tz="UTC")))
        else:
            fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)


def decimal_from_units(units: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """decimal128(38, 10) values whose unscaled integers are ``units`` (1e-10 steps), NULL where not valid."""
    units = np.ascontiguousarray(units, dtype=np.int64)
    words = np.empty((len(units), 2), np.int64)
    words[:, 0] = units
    words[:, 1] = np.where(units < 0, -1, 0)
    bitmap = None
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid.astype(np.uint8), bitorder="little").tobytes())
    return pa.Array.from_buffers(DECIMAL, len(units), [bitmap, pa.py_buffer(words.tobytes())])


def decimal_from_float(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """decimal128(38, 10) of floats rounded to 10 decimals (exact for |x| < 9e8, cast above)."""
    values = np.where(np.isfinite(values), values, 0.0)
    small = np.abs(values) < 9e8
    if small.all():
        return decimal_from_units(np.rint(values * UNIT).astype(np.int64), valid)
    arr = pa.array(np.round(values, 6), pa.float64()).cast(DECIMAL, safe=False)
    exact = decimal_from_units(
        np.where(small, np.rint(np.where(small, values, 0.0) * UNIT), 0).astype(np.int64)
    )
    merged = pc.if_else(pa.array(small), exact, arr)
    if valid is not None and not valid.all():
        merged = pc.if_else(pa.array(valid), merged, pa.scalar(None, DECIMAL))
    return merged


_NZ: dict[int, tuple[pa.Array, pa.Array]] = {}


def _nz(table: pa.Array) -> pa.Array:
    """The lookup table with empty strings turned into NULL (cached per table)."""
    key = id(table)
    if key not in _NZ:
        _NZ[key] = (table, pc.if_else(pc.not_equal(table, ""), table, pa.scalar(None, pa.string())))
    return _NZ[key][1]


def _const(value: str, n: int) -> pa.Array:
    return lookup(pa.array([value]), np.zeros(n, np.int32))


def _by_type(values: dict[int, str], lt: np.ndarray) -> pa.Array:
    return lookup(pa.array([values.get(i) for i in range(14)], pa.string()), lt)


_NONE = pa.array([None], pa.string())


class FocusRenderer:
    def __init__(
        self, world: World, tables: Tables, ptables: PeriodTables, batch: R.Batch, *, csv: bool
    ) -> None:
        self.world, self.t, self.p, self.b, self.csv = world, tables, ptables, batch, csv

    def _sku(self, field: str) -> pa.Array:
        return lookup(_nz(self.world.skus.strings[field]), self.b.sku)

    def _sku_where(self, field: str, rows: np.ndarray) -> pa.Array:
        """A SKU attribute on ``rows``, NULL elsewhere."""
        table = pa.concat_arrays([_nz(self.world.skus.strings[field]), _NONE])
        return lookup(table, np.where(rows, self.b.sku, len(self.world.skus)))

    def _commit(self, field: str, rows: np.ndarray | None = None) -> pa.Array:
        valid = self.b.commit >= 0 if rows is None else rows & (self.b.commit >= 0)
        return lookup(_nz(self.t.commit[field]), np.where(valid, self.b.commit, self.t.n_commit))

    def _money(self, units: np.ndarray) -> pa.Array:
        """Exact decimal(38, 10) in parquet; in CSV the same value as shortest decimal text (via double)."""
        return pa.array(units / UNIT, pa.float64()) if self.csv else decimal_from_units(units)

    def _number(self, values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
        if not self.csv:
            return decimal_from_float(values, valid)
        mask = None if valid is None else ~valid
        return pa.array(np.round(np.where(np.isfinite(values), values, 0.0), 10), pa.float64(), mask=mask)

    def _datetime(self, ms: np.ndarray, iso: pa.Array, slots: np.ndarray) -> pa.Array:
        if self.csv:
            return lookup(iso, slots)
        return pa.array(ms, pa.timestamp("ms", tz="UTC"))

    def table(self) -> pa.Table:
        w, t, p, b = self.world, self.t, self.p, self.b
        n, lt = b.n, b.lt
        pool, skus = w.pool, w.skus
        n_sku = len(skus)
        usage = np.isin(lt, _CONSUMED)
        unused = np.isin(lt, _UNUSED)
        has_commit = b.commit >= 0
        has_res = b.res >= 0
        commit_idx = np.where(has_commit, b.commit, t.n_commit)
        month = np.full(n, p.period.days)
        payer_rows = t.payer_of[b.account] == b.account

        list_cost = np.where(usage, b.list_cost, np.where(unused, 0, b.cost))
        rate = skus.rate[b.sku]
        qty_extra = b.extra.get("commitment_quantity", np.full(n, np.nan))
        term_hours = np.array([8760.0 * c.years for c in w.commitments] + [0.0])[commit_idx]
        commit_qty = np.select(
            [lt == R.RI_USAGE, lt == R.SP_USAGE, lt == R.RI_FEE, lt == R.RI_UPFRONT],
            [b.amount, b.effective / UNIT, b.amount, b.amount * term_hours],
            qty_extra,
        )
        commit_qty_valid = has_commit & np.isfinite(commit_qty)
        pricing_qty_valid = ~np.isin(lt, (R.TAX, R.CREDIT, R.REFUND, R.RI_UNUSED, R.SP_UNUSED))
        n_combo = len(pool.combo_tags)
        combo = np.where(has_res, pool.tag_combo[np.maximum(b.res, 0)], n_combo - 1)
        # Resource columns: the resource, else (commitment rows) the commitment itself, else NULL.
        res_or_commit = np.where(has_res, b.res, pool.size + commit_idx)
        resource_id = take(
            pa.concat_arrays([pool.resource_id.slice(0, pool.size), t.commit["arn"]]), res_or_commit
        )
        resource_name = take(
            pa.concat_arrays([pool.resource_name.slice(0, pool.size), t.commit["name"]]), res_or_commit
        )
        resource_type = lookup(
            pa.concat_arrays([_nz(skus.strings["resource_type"]), t.commit["type"]]),
            np.where(has_res, b.sku, n_sku + commit_idx),
        )
        ri_priced = np.isin(lt, (R.RI_USAGE, R.RI_FEE, R.RI_UPFRONT)) & has_commit
        price_id = lookup(
            pa.concat_arrays([_nz(skus.strings["rate_code"]), _nz(t.commit["rate_code"])]),
            np.where(ri_priced, n_sku + commit_idx, b.sku),
        )
        unit_price = self._number(rate, usage)
        effective = self._money(b.effective)
        columns = {
            "AvailabilityZone": lookup(_nz(pool.az_names), pool.az_code[np.where(has_res, b.res, pool.size)]),
            "BilledCost": self._money(b.billed),
            "BillingAccountId": lookup(t.payer_id, b.account),
            "BillingAccountName": lookup(t.payer_name, b.account),
            "BillingAccountType": _const("Billing Account", n),
            "BillingCurrency": _const("USD", n),
            "BillingPeriodEnd": self._datetime(np.full(n, p.period_end_ms), p.end_iso, month),
            "BillingPeriodStart": self._datetime(np.full(n, p.period_start_ms), p.start_iso, month),
            "CapacityReservationId": pa.nulls(n, pa.string()),
            "CapacityReservationStatus": pa.nulls(n, pa.string()),
            "ChargeCategory": _by_type(_CATEGORY, lt),
            "ChargeClass": pa.nulls(n, pa.string()),
            "ChargeDescription": lookup(
                _nz(t.description),
                b.sku + n_sku * np.select([lt == R.RI_USAGE, lt == R.SP_USAGE, unused], [1, 2, 3], 0),
            ),
            "ChargeFrequency": _by_type(_FREQUENCY, lt),
            "ChargePeriodEnd": self._datetime(p.slot_end_ms[b.slot], p.end_iso, b.slot),
            "ChargePeriodStart": self._datetime(p.slot_start_ms[b.slot], p.start_iso, b.slot),
            "CommitmentDiscountCategory": self._commit("category"),
            "CommitmentDiscountId": self._commit("arn"),
            "CommitmentDiscountName": self._commit("name"),
            "CommitmentDiscountQuantity": self._number(commit_qty, commit_qty_valid),
            "CommitmentDiscountStatus": _by_type(_STATUS, lt),
            "CommitmentDiscountType": self._commit("type"),
            "CommitmentDiscountUnit": self._commit("unit", commit_qty_valid),
            "ConsumedQuantity": self._number(b.amount, usage),
            "ConsumedUnit": self._sku_where("unit", usage),
            "ContractedCost": self._money(list_cost),
            "ContractedUnitPrice": unit_price,
            "EffectiveCost": effective,
            "InvoiceId": lookup(p.invoice, b.account),
            "InvoiceIssuerName": lookup(t.entity, b.account),
            "ListCost": self._money(list_cost),
            "ListUnitPrice": unit_price,
            "PricingCategory": _by_type(_PRICING, lt),
            "PricingCurrency": _const("USD", n),
            "PricingCurrencyContractedUnitPrice": unit_price,
            "PricingCurrencyEffectiveCost": effective,
            "PricingCurrencyListUnitPrice": unit_price,
            "PricingQuantity": self._number(b.amount, pricing_qty_valid),
            "PricingUnit": self._sku_where("unit", pricing_qty_valid),
            "ProviderName": _const("AWS", n),
            "PublisherName": lookup(t.entity, b.account),
            "RegionId": self._sku("region_code"),
            "RegionName": self._sku("region_name"),
            "ResourceId": resource_id,
            "ResourceName": resource_name,
            "ResourceType": resource_type,
            "ServiceCategory": self._sku("service_category"),
            "ServiceName": self._sku("service_name"),
            "ServiceSubcategory": self._sku("service_subcategory"),
            "SkuId": self._sku("sku"),
            "SkuMeter": self._sku("sku_meter"),
            "SkuPriceDetails": lookup(skus.price_details, b.sku),
            "SkuPriceId": price_id,
            "SubAccountId": lookup(t.account_id, b.account),
            "SubAccountName": lookup(t.account_name, b.account),
            "SubAccountType": lookup(
                pa.array(["Linked Account", "Management Account"]), payer_rows.astype(np.int32)
            ),
            "Tags": lookup(pool.combo_focus_tags, combo),
            "x_Discounts": pa.nulls(n, pa.string()),
            "x_Operation": self._sku("operation"),
            "x_ServiceCode": self._sku("product_code"),
        }
        names = list(FOCUS_COLUMNS + AWS_EXTENSION_COLUMNS)
        return pa.Table.from_arrays([columns[name] for name in names], names=names)
