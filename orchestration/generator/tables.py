"""Lookup tables the renderers take row values from (accounts, commitments, time slots)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.generator import catalog as cat
from orchestration.generator.rand import hex_digest
from orchestration.generator.world import MAP_STR, Period, World, iso_ms

MS_PER_DAY = 86_400_000
_EPOCH = date(1970, 1, 1)


def epoch_ms(d: date) -> int:
    return (d - _EPOCH).days * MS_PER_DAY


def take(table: pa.Array, index: np.ndarray) -> pa.Array:
    """Dense values ``table[index]`` (for high-cardinality lookups such as resource ids and maps)."""
    return table.take(pa.array(index, pa.int64()))


_DICTIONARIES: dict[int, tuple[pa.Array, pa.Array, np.ndarray, np.ndarray]] = {}


def lookup(table: pa.Array, index: np.ndarray) -> pa.DictionaryArray:
    """``table[index]`` as a dictionary-encoded column (NULL where the table value is NULL).

    Building it costs two int32 gathers, and parquet writes the dictionary as is, so low-cardinality string
    columns (SKU, account, commitment and time-slot attributes) never get materialised row by row. The
    dictionary holds distinct values only (parquet would otherwise fall back to plain encoding) and only
    those this chunk uses.
    """
    key = id(table)
    if key not in _DICTIONARIES:
        nulls = np.asarray(table.is_null().to_numpy(zero_copy_only=False), bool)
        encoded = pc.dictionary_encode(pc.fill_null(table, ""))
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int32)
        _DICTIONARIES[key] = (table, encoded.dictionary, codes, nulls)
    _, dictionary, codes, nulls = _DICTIONARIES[key]
    position = np.asarray(index, np.int64)
    mask = nulls[position] if nulls.any() else None
    idx = codes[position]
    if len(dictionary) > 32:
        used = np.bincount(idx, minlength=len(dictionary)) > 0
        if not used.all():
            idx = (np.cumsum(used, dtype=np.int32) - 1)[idx]
            dictionary = dictionary.filter(pa.array(used))
    return pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32(), mask=mask), dictionary)


def invoice_id(world: World, payer: int, period: Period) -> str:
    """A stable numeric invoice id per payer and billing period."""
    return str(
        1_000_000_000
        + int(hex_digest(world.config.seed, "invoice", payer, period.label, length=12), 16) % 8_999_999_999
    )


@dataclass
class Tables:
    """World-level tables; the last row of each commitment table is the "none" row."""

    account_id: pa.Array
    account_name: pa.Array
    payer_id: pa.Array
    payer_name: pa.Array
    entity: pa.Array  # invoicing = legal entity of the account's payer
    tax_type: pa.Array
    cost_category: pa.Array  # map per account
    cost_category_json: pa.Array
    cost_category_values: dict[str, pa.Array]
    payer_of: np.ndarray
    n_commit: int
    commit: dict[str, pa.Array]
    commit_is_ri: np.ndarray
    commit_blank: dict[str, pa.Array]  # the same with "" in the "none" row (CUR writes empty strings)
    tax_type_or_blank: pa.Array  # per account, then ""
    rate_codes: pa.Array  # SKU rate codes, then each commitment's rate code
    description: pa.Array  # SKU descriptions: usage, RI-covered, SP-covered, SP negation (4 x n_sku)
    rate: pa.Array  # SKU rate strings, then "0.0" and ""
    product_keys: dict[str, pa.Array]  # product map key -> its value per SKU ("" when absent)

    def product_key(self, world: World, key: str) -> pa.Array:
        if key not in self.product_keys:
            self.product_keys[key] = pa.array(
                [dict(r.get("product", [])).get(key, "") for r in world.skus.rows]
            )
        return self.product_keys[key]

    @classmethod
    def build(cls, world: World) -> Tables:
        accounts = world.accounts
        payer_of = np.array([a.payer for a in accounts])
        categories = []
        for a in accounts:
            categories.append(
                [
                    ("BusinessUnit", cat.BUSINESS_UNITS[a.team]),
                    ("Environment", "Production" if a.environment == "prod" else "Non-Production"),
                ]
            )
        commit_fields: dict[str, list[str]] = {
            k: []
            for k in (
                "arn",
                "name",
                "subscription_id",
                "start",
                "end",
                "offering_class",
                "lease",
                "option",
                "rate_code",
                "offering_type",
                "sp_region",
                "sp_family",
                "term",
                "category",
                "type",
                "unit",
            )
        }
        for c in world.commitments:
            is_ri = c.kind == "RI"
            values = {
                "arn": c.arn,
                "name": c.name,
                "subscription_id": c.subscription_id,
                "start": iso_ms(c.start),
                "end": iso_ms(c.end),
                "offering_class": c.offering_class if is_ri else "",
                "lease": f"{c.years}yr",
                "option": c.option,
                "rate_code": c.rate_code,
                "offering_type": c.offering_type,
                "sp_region": c.sp_region,
                "sp_family": c.sp_family,
                "term": f"{c.years}yr",
                "category": "Usage" if is_ri else "Spend",
                "type": "Reserved Instance" if is_ri else "Savings Plan",
                "unit": "Hours" if is_ri else "USD",
            }
            for k, v in values.items():
                commit_fields[k].append(v)
        return cls(
            account_id=pa.array([a.account_id for a in accounts]),
            account_name=pa.array([a.name for a in accounts]),
            payer_id=pa.array([accounts[a.payer].account_id for a in accounts]),
            payer_name=pa.array([accounts[a.payer].name for a in accounts]),
            entity=pa.array([world.payer_profiles[a.payer].invoicing_entity for a in accounts]),
            tax_type=pa.array([world.payer_profiles[a.payer].tax_type for a in accounts]),
            cost_category=pa.array(categories, MAP_STR),
            cost_category_json=pa.array([json.dumps(dict(c), separators=(",", ":")) for c in categories]),
            cost_category_values={
                k: pa.array([dict(c)[k] for c in categories]) for k in cat.COST_CATEGORY_KEYS
            },
            payer_of=payer_of,
            n_commit=len(world.commitments),
            commit={k: pa.array([*v, None], pa.string()) for k, v in commit_fields.items()},
            commit_is_ri=np.array([c.kind == "RI" for c in world.commitments] + [False]),
            commit_blank={k: pa.array([*v, ""], pa.string()) for k, v in commit_fields.items()},
            tax_type_or_blank=pa.array([world.payer_profiles[a.payer].tax_type for a in accounts] + [""]),
            rate_codes=pa.concat_arrays(
                [
                    world.skus.strings["rate_code"],
                    pa.array([c.rate_code for c in world.commitments], pa.string()),
                ]
            ),
            description=pa.concat_arrays(
                [world.skus.strings[f"desc_{v}"] for v in ("usage", "ri", "sp", "neg")]
            ),
            rate=pa.concat_arrays([world.skus.strings["rate_str"], pa.array(["0.0", ""])]),
            product_keys={},
        )


@dataclass
class PeriodTables:
    """Per billing period: time slots (days, then the whole month) and invoice ids per account."""

    period: Period
    slot_start_ms: np.ndarray
    slot_end_ms: np.ndarray
    interval: pa.Array  # identity_time_interval
    start_iso_ms: pa.Array  # "2026-01-01T00:00:00.000Z"
    end_iso_ms: pa.Array
    start_iso: pa.Array  # "2026-01-01T00:00:00Z"
    end_iso: pa.Array
    invoice: pa.Array  # per account
    period_start_ms: int
    period_end_ms: int

    @classmethod
    def build(cls, world: World, period: Period) -> PeriodTables:
        starts = [period.start + timedelta(days=d) for d in range(period.days)] + [period.start]
        ends = [period.start + timedelta(days=d + 1) for d in range(period.days)] + [period.end]

        def z(d: date) -> str:
            return datetime(d.year, d.month, d.day).strftime("%Y-%m-%dT%H:%M:%SZ")

        invoices = [invoice_id(world, a.payer, period) for a in world.accounts]
        return cls(
            period=period,
            slot_start_ms=np.array([epoch_ms(d) for d in starts], np.int64),
            slot_end_ms=np.array([epoch_ms(d) for d in ends], np.int64),
            interval=pa.array([f"{z(s)}/{z(e)}" for s, e in zip(starts, ends, strict=True)]),
            start_iso_ms=pa.array([iso_ms(d) for d in starts]),
            end_iso_ms=pa.array([iso_ms(d) for d in ends]),
            start_iso=pa.array([z(d) for d in starts]),
            end_iso=pa.array([z(d) for d in ends]),
            invoice=pa.array(invoices),
            period_start_ms=epoch_ms(period.start),
            period_end_ms=epoch_ms(period.end),
        )
