"""Line items of the synthetic model, format-neutral, built chunk by chunk with numpy.

A ``Batch`` holds one chunk of rows as index arrays into the world's tables (account, SKU, resource,
commitment, time slot) plus the numbers. Money is carried as int64 units of 1e-10 dollars, so every
value written is an exact 10-decimal number and sums (invoices, coherence checks) are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from orchestration.generator import catalog as cat
from orchestration.generator.plan import N_SERVICES, SERVICE_INDEX, PeriodPlan
from orchestration.generator.rand import hash_normal
from orchestration.generator.world import ANCHORS, S_NOISE, SEASON_DEMAND, SEASON_HOURS, UNIT, World

# Line types. The CUR formats write 0-11; FOCUS writes every type except SP_NEG and adds the Unused rows.
USAGE, RI_USAGE, SP_USAGE, SP_NEG, RI_FEE, RI_UPFRONT, SP_RECUR, SP_UPFRONT = range(8)
TAX, SUPPORT, CREDIT, REFUND, RI_UNUSED, SP_UNUSED = range(8, 14)
LINE_ITEM_TYPE = (
    "Usage",
    "DiscountedUsage",
    "SavingsPlanCoveredUsage",
    "SavingsPlanNegation",
    "RIFee",
    "Fee",
    "SavingsPlanRecurringFee",
    "SavingsPlanUpfrontFee",
    "Tax",
    "Fee",
    "Credit",
    "Refund",
    "",
    "",
)
RI_TYPES = (RI_USAGE, RI_FEE, RI_UPFRONT, RI_UNUSED)
SP_TYPES = (SP_USAGE, SP_NEG, SP_RECUR, SP_UPFRONT, SP_UNUSED)
USAGE_TYPES = (USAGE, RI_USAGE, SP_USAGE, SP_NEG)


@dataclass
class Batch:
    """One chunk of line items."""

    lt: np.ndarray  # line type (int8)
    account: np.ndarray  # usage account index
    res: np.ndarray  # pool index, -1 when the row has no resource
    sku: np.ndarray
    commit: np.ndarray  # commitment index, -1 when none
    slot: np.ndarray  # 0..days-1: that day; days: the whole month
    amount: np.ndarray  # usage amount
    cost: np.ndarray  # unblended cost, units
    list_cost: np.ndarray  # public On-Demand cost, units
    effective: np.ndarray  # FOCUS EffectiveCost, units
    billed: np.ndarray  # billed cost as the output format writes it, units
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # CUR column -> float (NaN = null) or str
    seq: int = 0  # chunk number inside the period (seeds the line item ids)

    @property
    def n(self) -> int:
        return len(self.lt)

    def rows(self, start: int, stop: int) -> Batch:
        """Rows [start, stop) as a batch of their own."""
        part = {c: getattr(self, c)[start:stop] for c in BATCH_COLUMNS}
        return Batch(**part, extra={k: v[start:stop] for k, v in self.extra.items()}, seq=self.seq)


BATCH_COLUMNS = (
    "lt",
    "account",
    "res",
    "sku",
    "commit",
    "slot",
    "amount",
    "cost",
    "list_cost",
    "effective",
    "billed",
)


def concat(parts: list[Batch]) -> Batch:
    """Rows of several batches, in order (extras missing from a part are NULL / empty there)."""
    names = sorted({k for p in parts for k in p.extra})
    extra = {}
    for name in names:
        kind = next(p.extra[name].dtype for p in parts if name in p.extra)
        fill = "" if kind == object else np.nan
        extra[name] = np.concatenate([p.extra.get(name, np.full(p.n, fill, dtype=kind)) for p in parts])
    columns = {c: np.concatenate([getattr(p, c) for p in parts]) for c in BATCH_COLUMNS}
    return Batch(**columns, extra=extra, seq=parts[0].seq)


@dataclass
class Accumulator:
    """Running sums of one period, fed by every batch written."""

    n_accounts: int
    n_commitments: int
    days: int
    billed_by_payer: dict[int, int] = field(default_factory=dict)  # exact, units
    tax_base: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (account, service) -> dollars
    ri_upfront: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ri_recurring: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ri_hours: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sp_used: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))  # (commitment, day)

    def __post_init__(self) -> None:
        self.tax_base = np.zeros(self.n_accounts * N_SERVICES)
        self.ri_upfront = np.zeros(self.n_commitments, np.int64)
        self.ri_recurring = np.zeros(self.n_commitments, np.int64)
        self.ri_hours = np.zeros(self.n_commitments)
        self.sp_used = np.zeros((self.n_commitments, self.days), np.int64)

    def add(self, world: World, batch: Batch) -> None:
        payer = world_payers(world)[batch.account]
        for p in np.unique(payer).tolist():
            self.billed_by_payer[p] = self.billed_by_payer.get(p, 0) + int(batch.billed[payer == p].sum())
        key = batch.account * N_SERVICES + world.skus.product_index[batch.sku]
        self.tax_base += np.bincount(key, weights=batch.billed / UNIT, minlength=len(self.tax_base))

    def usage_of_payer(self, world: World, payer: int) -> float:
        accounts = [a.index for a in world.accounts if a.payer == payer]
        return float(self.tax_base.reshape(-1, N_SERVICES)[accounts].sum())


def world_payers(world: World) -> np.ndarray:
    return np.array([a.payer for a in world.accounts])


def _units(values: np.ndarray) -> np.ndarray:
    return np.rint(values * UNIT).astype(np.int64)


def usage_batch(
    world: World,
    plan: PeriodPlan,
    lo: int,
    hi: int,
    focus: bool,
    acc: Accumulator,
    anomaly_sums: np.ndarray,
    seq: int,
) -> Batch:
    """Usage rows of plan resources [lo, hi)."""
    config, pool, skus, period = world.config, world.pool, world.skus, plan.period
    r = plan.resources[lo:hi]
    dc, ds = plan.day_count[lo:hi], plan.day_start[lo:hi]
    n_rd = int(dc.sum())
    rd_i = np.repeat(np.arange(len(r)), dc)
    rd_day = np.repeat(ds, dc) + (np.arange(n_rd) - np.repeat(np.cumsum(dc) - dc, dc))
    m_rd = pool.n_meters[r][rd_i]
    row_rd = np.repeat(np.arange(n_rd), m_rd)
    meter = np.arange(len(row_rd)) - np.repeat(np.cumsum(m_rd) - m_rd, m_rd)
    res = r[rd_i[row_rd]]
    day = rd_day[row_rd]
    dabs = period.day_offset + day
    sku = pool.sku0[res] + meter
    beh = skus.behaviour[sku]
    rate = skus.rate[sku]
    wd = world.weekday[dabs]
    t = period.index + (day + 0.5) / period.days
    z = np.clip(hash_normal(config.seed, S_NOISE, res, dabs, meter), -4.0, 4.0)
    base = pool.base[res, meter]

    hours = np.where(
        pool.always_on[res],
        24.0,
        np.clip(24.0 * pool.util[res] * SEASON_HOURS[wd] * np.exp(0.08 * z), 1.0, 24.0),
    )
    stored = base * (1.0 + pool.growth[res] * t) * (1.0 + 0.01 * z) / period.days
    demand = (
        base
        * SEASON_DEMAND[wd]
        * (1.0 + config.monthly_trend) ** t
        * world.demand[pool.product[res], dabs]
        * np.exp(0.15 * z - 0.01125)
    )
    amount = np.where(beh == cat.HOURS, np.round(hours, 4), np.where(beh == cat.STORAGE, stored, demand))
    amount = np.where(skus.integral[sku], np.maximum(np.rint(amount), 1.0), np.round(amount, 8))
    baseline_cost = _units(amount * rate)

    anomaly = world.anomaly_of[res]
    hit = np.flatnonzero(anomaly >= 0)
    cost = baseline_cost
    if len(hit):
        factor = np.ones(len(hit))
        for a in np.unique(anomaly[hit]).tolist():
            m = anomaly[hit] == a
            factor[m] = world.anomalies[a].factor(dabs[hit][m])
        factor = np.where(beh[hit] == cat.DEMAND, factor, 1.0)
        boosted = amount[hit] * factor
        boosted = np.where(skus.integral[sku[hit]], np.rint(boosted), np.round(boosted, 8))
        amount = amount.copy()
        amount[hit] = boosted
        cost = baseline_cost.copy()
        cost[hit] = _units(boosted * rate[hit])
        for a in np.unique(anomaly[hit]).tolist():
            an = world.anomalies[a]
            m = hit[(anomaly[hit] == a) & (dabs[hit] >= an.start_day) & (dabs[hit] <= an.end_day)]
            anomaly_sums[a, 0] += baseline_cost[m].sum()
            anomaly_sums[a, 1] += cost[m].sum()

    n = len(res)
    lt = np.full(n, USAGE, np.int8)
    # A commitment covers the instance-hours meter of the resources it covers (not, say, their storage).
    commit = np.where((meter == 0) & (beh == cat.HOURS), plan.cover[res], -1)
    list_cost = cost.copy()
    effective = cost.copy()
    extra: dict[str, np.ndarray] = {}
    covered = np.flatnonzero(commit >= 0)
    if len(covered):
        is_ri = np.array([c.kind == "RI" for c in world.commitments])[commit[covered]]
        ri, sp = covered[is_ri], covered[~is_ri]
        if len(ri):
            c = commit[ri]
            up_h = np.array([x.upfront_hourly for x in world.commitments])[c]
            rec_h = np.array([x.recurring_hourly for x in world.commitments])[c]
            up, rec = _units(amount[ri] * up_h), _units(amount[ri] * rec_h)
            lt[ri] = RI_USAGE
            cost[ri] = 0
            effective[ri] = up + rec
            for name, values in (
                ("reservation_amortized_upfront_cost_for_usage", up),
                ("reservation_recurring_fee_for_usage", rec),
                ("reservation_effective_cost", up + rec),
            ):
                col = np.full(n, np.nan)
                col[ri] = values / UNIT
                extra[name] = col
            np.add.at(acc.ri_upfront, c, up)
            np.add.at(acc.ri_recurring, c, rec)
            np.add.at(acc.ri_hours, c, amount[ri])
        if len(sp):
            c = commit[sp]
            disc = np.array([x.discount for x in world.commitments])[c]
            sp_rate = np.round(rate[sp] * (1.0 - disc), 10)
            sp_cost = _units(amount[sp] * sp_rate)
            lt[sp] = SP_USAGE
            effective[sp] = sp_cost
            eff_col, rate_col = np.full(n, np.nan), np.full(n, np.nan)
            eff_col[sp], rate_col[sp] = sp_cost / UNIT, sp_rate
            extra["savings_plan_savings_plan_effective_cost"] = eff_col
            extra["savings_plan_savings_plan_rate"] = rate_col
            np.add.at(acc.sp_used, (c, day[sp]), sp_cost)

    billed = cost.copy()
    batch = Batch(
        lt,
        pool.account[res],
        res,
        sku.astype(np.int64),
        commit,
        day.astype(np.int64),
        amount,
        cost,
        list_cost,
        effective,
        billed,
        extra,
        seq,
    )
    if focus:
        batch.billed[lt == SP_USAGE] = 0
    else:
        sp = np.flatnonzero(lt == SP_USAGE)
        if len(sp):
            neg_extra = {k: v[sp] for k, v in extra.items()}
            neg_extra["savings_plan_savings_plan_effective_cost"] = np.zeros(len(sp))
            negation = Batch(
                np.full(len(sp), SP_NEG, np.int8),
                batch.account[sp],
                res[sp],
                batch.sku[sp],
                commit[sp],
                batch.slot[sp],
                np.zeros(len(sp)),
                -cost[sp],
                np.zeros(len(sp), np.int64),
                np.zeros(len(sp), np.int64),
                -cost[sp],
                neg_extra,
                seq,
            )
            batch = concat([batch, negation])
    acc.add(world, batch)
    return batch


# --- fixed rows ----------------------------------------------------------------------------------------


class FixedRows:
    """Collects the non-usage rows of a period one by one."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(
        self,
        lt: int,
        account: int,
        sku: int,
        slot: int,
        cost: int,
        *,
        commit: int = -1,
        amount: float = 1.0,
        list_cost: int | None = None,
        effective: int | None = None,
        billed: int | None = None,
        **extra: float | str,
    ) -> None:
        self.rows.append(
            {
                "lt": lt,
                "account": account,
                "res": -1,
                "sku": sku,
                "commit": commit,
                "slot": slot,
                "amount": amount,
                "cost": cost,
                "list_cost": cost if list_cost is None else list_cost,
                "effective": cost if effective is None else effective,
                "billed": cost if billed is None else billed,
                "extra": extra,
            }
        )

    def batch(self, seq: int) -> Batch:
        rows = self.rows
        names = sorted({k for r in rows for k in r["extra"]})
        extra = {}
        for name in names:
            values = [r["extra"].get(name) for r in rows]
            if any(isinstance(v, str) for v in values):
                extra[name] = np.array(["" if v is None else v for v in values], dtype=object)
            else:
                extra[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        def col(key: str, dtype: type) -> np.ndarray:
            return np.array([r[key] for r in rows], dtype=dtype)

        return Batch(
            col("lt", np.int8),
            col("account", np.int64),
            col("res", np.int64),
            col("sku", np.int64),
            col("commit", np.int64),
            col("slot", np.int64),
            col("amount", np.float64),
            col("cost", np.int64),
            col("list_cost", np.int64),
            col("effective", np.int64),
            col("billed", np.int64),
            extra,
            seq,
        )


def _cents(dollars: float) -> int:
    return round(dollars * 100) * (UNIT // 100)


def support_fee(usage: float) -> float:
    """AWS Business support: the greater of $100 and a tiered share of the monthly usage charges."""
    tiers = ((10_000, 0.10), (80_000, 0.07), (250_000, 0.05), (float("inf"), 0.03))
    fee, low = 0.0, 0.0
    for high, share in tiers:
        if usage > low:
            fee += (min(usage, high) - low) * share
        low = high
    return max(100.0, fee)


def fixed_batch(world: World, plan: PeriodPlan, focus: bool, acc: Accumulator, seq: int) -> Batch:
    """Commitment fees, support, credits, refunds and taxes of a period (after all usage rows)."""
    period = plan.period
    days, hours, month = period.days, period.hours, period.days
    rows = FixedRows()
    for c in plan.active_ri:
        up_day, rec_day = c.day_units()
        k = c.count
        if c.purchased_in(period) and c.upfront_hourly > 0:
            rows.add(
                RI_UPFRONT,
                c.payer,
                c.upfront_sku,
                0,
                c.upfront_total,
                commit=c.index,
                amount=float(k),
                list_cost=0,
                effective=0,
                reservation_upfront_value=c.upfront_total / UNIT,
                reservation_number_of_reservations=str(k),
            )
        total_up, total_rec = k * days * up_day, k * days * rec_day
        unused_up = total_up - int(acc.ri_upfront[c.index])
        unused_rec = total_rec - int(acc.ri_recurring[c.index])
        unused_hours = round(k * hours - float(acc.ri_hours[c.index]), 6)
        nf = c.normalization or 1.0
        rows.add(
            RI_FEE,
            c.payer,
            c.fee_sku,
            month,
            total_rec,
            commit=c.index,
            amount=float(k * hours),
            list_cost=0,
            effective=0,
            reservation_amortized_upfront_fee_for_billing_period=total_up / UNIT,
            reservation_unused_amortized_upfront_fee_for_billing_period=unused_up / UNIT,
            reservation_unused_recurring_fee=unused_rec / UNIT,
            reservation_unused_quantity=unused_hours,
            reservation_unused_normalized_unit_quantity=round(unused_hours * nf, 6),
            reservation_upfront_value=c.upfront_total / UNIT,
            reservation_number_of_reservations=str(k),
            reservation_total_reserved_units=f"{k * hours:.1f}",
            reservation_units_per_reservation=f"{hours:.1f}",
            reservation_normalized_units_per_reservation=f"{hours * nf:.1f}",
            reservation_total_reserved_normalized_units=f"{k * hours * nf:.1f}",
        )
        if focus and c.count > len(c.covered):
            rows.add(
                RI_UNUSED,
                c.payer,
                c.fee_sku,
                month,
                0,
                commit=c.index,
                amount=0.0,
                list_cost=0,
                effective=unused_up + unused_rec,
                billed=0,
                commitment_quantity=unused_hours,
            )
    for c in plan.active_sp:
        up_day, rec_day = c.day_units()
        commit_day = round(24 * c.hourly_commitment * UNIT)
        rec_day = commit_day - up_day
        if c.purchased_in(period) and c.upfront_hourly > 0:
            rows.add(
                SP_UPFRONT,
                c.payer,
                c.upfront_sku,
                0,
                c.upfront_total,
                commit=c.index,
                list_cost=0,
                effective=0,
                commitment_quantity=c.upfront_total / UNIT,
            )
        for d in range(days):
            used = int(acc.sp_used[c.index, d])
            rows.add(
                SP_RECUR,
                c.payer,
                c.fee_sku,
                d,
                rec_day,
                commit=c.index,
                amount=24.0,
                list_cost=0,
                effective=0,
                savings_plan_total_commitment_to_date=commit_day / UNIT,
                savings_plan_used_commitment=used / UNIT,
                savings_plan_amortized_upfront_commitment_for_billing_period=up_day / UNIT,
                savings_plan_recurring_commitment_for_billing_period=rec_day / UNIT,
                commitment_quantity=commit_day / UNIT,
            )
            if focus:
                rows.add(
                    SP_UNUSED,
                    c.payer,
                    c.fee_sku,
                    d,
                    0,
                    commit=c.index,
                    amount=0.0,
                    list_cost=0,
                    effective=commit_day - used,
                    billed=0,
                    commitment_quantity=(commit_day - used) / UNIT,
                )
    for p in range(world.config.billing_accounts):
        usage = acc.usage_of_payer(world, p)
        rows.add(SUPPORT, p, world.support_sku, month, _cents(support_fee(usage)))
        credit = -_cents(min(2500.0, max(25.0, round(0.015 * usage, 2))))
        rows.add(CREDIT, int(world.pool.account[p * len(ANCHORS)]), world.credit_sku, month, credit)
    if plan.refund:
        target = int(world.pool.account[1])
        base = float(acc.tax_base[target * N_SERVICES + SERVICE_INDEX["AmazonEC2"]])
        rows.add(REFUND, target, world.refund_sku, month, -_cents(max(25.0, round(0.02 * base, 2))))
    interim = rows.batch(seq)
    acc.add(world, interim)  # fees count towards the tax base
    for account, service in plan.tax_pairs:
        payer = world.accounts[account].payer
        rate = world.payer_profiles[payer].tax_rate
        base = max(0.0, float(acc.tax_base[account * N_SERVICES + service]))
        rows.add(TAX, account, world.tax_skus[list(cat.SERVICES)[service]], month, _cents(rate * base))
    batch = rows.batch(seq)
    acc.add(world, batch.rows(interim.n, batch.n))  # the tax rows
    return batch
