"""Which resources write rows in a billing period, so that the period has exactly the requested rows.

Usage rows: one per resource, day and meter (plus a ``SavingsPlanNegation`` per Savings-Plan-covered
row in the CUR formats). Fixed rows: commitment fees (and, in FOCUS, the Unused commitment rows),
support, credits, an occasional refund and one tax row per (account, service) that has charges.

A period takes the longest pool prefix whose rows fit, then tops up the remainder with single-meter
"filler" resources that ran only the last days of the month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.generator import catalog as cat
from orchestration.generator.rand import hash_uniform
from orchestration.generator.world import Commitment, Period, World

N_SERVICES = len(cat.SERVICES)
SERVICE_INDEX = {code: i for i, code in enumerate(cat.SERVICES)}
S_REFUND = 501


@dataclass
class PeriodPlan:
    period: Period
    resources: np.ndarray  # pool indices, in row order
    day_start: np.ndarray  # first active day (0-based) of each resource
    day_count: np.ndarray  # active days of each resource
    lines: np.ndarray  # rows per active day of each resource
    cover: np.ndarray  # pool index -> commitment index active in this period, or -1
    active_ri: list[Commitment]
    active_sp: list[Commitment]
    tax_pairs: list[tuple[int, int]]  # (account index, service index), one tax row each
    refund: bool
    fixed_rows: int  # non-usage rows, tax rows included
    usage_rows: int

    @property
    def rows(self) -> int:
        return self.usage_rows + self.fixed_rows

    def chunks(self, chunk_rows: int) -> list[tuple[int, int]]:
        """Resource ranges [lo, hi) of about ``chunk_rows`` rows each (whole resources)."""
        per_resource = self.day_count * self.lines
        ends = np.cumsum(per_resource)
        bounds, lo = [], 0
        while lo < len(self.resources):
            start_rows = ends[lo - 1] if lo else 0
            hi = int(np.searchsorted(ends, start_rows + chunk_rows, side="right"))
            hi = max(hi, lo + 1)
            bounds.append((lo, hi))
            lo = hi
        return bounds


def refund_in(world: World, period: Period) -> bool:
    """An occasional refund: about one period in three, never the first one."""
    if period.index == 0:
        return False
    return bool(hash_uniform(world.config.seed, S_REFUND, period.month_number) < 0.4)


def plan_period(world: World, period: Period, focus: bool) -> PeriodPlan:
    config, pool = world.config, world.pool
    size, days = pool.size, period.days
    cover = np.full(size, -1, np.int64)
    active_ri = [c for c in world.commitments if c.kind == "RI" and c.active(period)]
    active_sp = [c for c in world.commitments if c.kind == "SP" and c.active(period)]
    for c in active_ri + active_sp:
        cover[c.covered] = c.index
    sp_index = {c.index for c in active_sp}
    sp_covered = np.isin(cover, list(sp_index)) if sp_index else np.zeros(size, bool)
    # A Savings-Plan-covered instance-hours row gets a SavingsPlanNegation row in the CUR formats.
    lines = pool.n_meters + (sp_covered & (not focus)).astype(np.int64)

    refund = refund_in(world, period)
    fixed = (
        len(active_ri)
        + sum(1 for c in active_ri if c.purchased_in(period) and c.upfront_hourly > 0)
        + len(active_sp) * days
        + sum(1 for c in active_sp if c.purchased_in(period) and c.upfront_hourly > 0)
        + 2 * config.billing_accounts  # support fee and a credit per payer
        + int(refund)
    )
    if focus:
        fixed += sum(1 for c in active_ri if c.count > len(c.covered)) + len(active_sp) * days
    fee_pairs = {
        (c.payer, SERVICE_INDEX[world.skus.rows[c.fee_sku]["product_code"]]) for c in active_ri + active_sp
    }
    fee_pairs |= {(p, SERVICE_INDEX["AWSSupportBusiness"]) for p in range(config.billing_accounts)}

    keys = pool.account * N_SERVICES + pool.product_code
    _, first = np.unique(keys, return_index=True)
    new_pair = np.zeros(size, np.int64)
    new_pair[first] = 1
    rows_by_prefix = days * np.cumsum(lines) + np.cumsum(new_pair) + fixed + len(fee_pairs)
    n = int(np.searchsorted(rows_by_prefix, config.rows, side="right"))
    if n < world.core:
        raise ValueError(f"rows={config.rows} is too small for period {period.label}")
    used = int(rows_by_prefix[n - 1])
    remainder = config.rows - used
    first_of_key = dict(zip(keys[first].tolist(), first.tolist(), strict=True))

    fillers, filler_days = [], []
    candidates = np.flatnonzero(
        (np.arange(size) >= n) & (pool.n_meters == 1) & (cover < 0) & (world.anomaly_of < 0)
    )
    for j in candidates.tolist():
        if remainder == 0:
            break
        if first_of_key[int(keys[j])] >= n:  # would add a tax row of its own
            continue
        d = min(days, remainder)
        fillers.append(j)
        filler_days.append(d)
        remainder -= d
    if remainder:
        raise RuntimeError(f"could not fill period {period.label} to {config.rows} rows")

    resources = np.concatenate([np.arange(n), np.array(fillers, np.int64)])
    day_count = np.concatenate([np.full(n, days), np.array(filler_days, np.int64)])
    pairs = {(int(k) // N_SERVICES, int(k) % N_SERVICES) for k in np.unique(keys[:n])} | fee_pairs
    plan = PeriodPlan(
        period=period,
        resources=resources,
        day_start=days - day_count,
        day_count=day_count,
        lines=lines[resources],
        cover=cover,
        active_ri=active_ri,
        active_sp=active_sp,
        tax_pairs=sorted(pairs),
        refund=refund,
        fixed_rows=fixed + len(pairs),
        usage_rows=int(np.sum(day_count * lines[resources])),
    )
    assert plan.rows == config.rows, (plan.rows, config.rows)
    return plan
