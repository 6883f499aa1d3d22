"""Side inputs written next to the bill: anomaly labels, business drivers, SLIs, invoices, accounts."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np

from orchestration.generator import catalog as cat
from orchestration.generator.rand import generator
from orchestration.generator.world import SEASON_DEMAND, World

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


def units_to_decimal(units: int) -> Decimal:
    """Exact dollars of an integer count of 1e-10 dollar units."""
    return Decimal(units).scaleb(-10)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_labels(world: World, out: Path, sums: np.ndarray) -> Path:
    """Ground truth of the injected anomalies; ``sums[i]`` = (baseline, actual) cost units over its window."""
    dates = world.window_dates()
    pool, skus, accounts = world.pool, world.skus, world.accounts
    rows = []
    for a in world.anomalies:
        sku = int(pool.sku0[a.resource])
        account = accounts[int(pool.account[a.resource])]
        region = skus.rows[sku]["region_code"] or cat.GLOBAL_REGION
        baseline, actual = int(sums[a.index, 0]), int(sums[a.index, 1])
        rows.append(
            [
                f"A{a.index + 1:03d}",
                a.kind,
                dates[a.start_day].isoformat(),
                dates[a.end_day].isoformat(),
                accounts[account.payer].account_id,
                account.account_id,
                skus.rows[sku]["product_code"],
                skus.rows[sku]["service_name"],
                region,
                pool.resource_id[a.resource].as_py(),
                units_to_decimal(baseline).quantize(MICRO),
                units_to_decimal(actual - baseline).quantize(MICRO),
                a.magnitude,
            ]
        )
    header = (
        "anomaly_id",
        "kind",
        "start_date",
        "end_date",
        "billing_account_id",
        "usage_account_id",
        "product_code",
        "service_name",
        "region",
        "resource_id",
        "baseline_cost",
        "injected_cost",
        "magnitude",
    )
    return write_csv(out / "labels" / "anomalies.csv", header, rows)


def _period_position(world: World) -> np.ndarray:
    """Months since the window start at the middle of each window day (the usage trend's clock)."""
    t = np.zeros(world.window_days)
    for p in world.periods:
        t[p.day_offset : p.day_offset + p.days] = p.index + (np.arange(p.days) + 0.5) / p.days
    return t


def write_business(world: World, out: Path, invoices: list[tuple[int, str, str, Decimal]]) -> list[Path]:
    """Unit drivers and SLIs per product and day (correlated with the products' usage), and invoices."""
    config = world.config
    dates = world.window_dates()
    trend = (1.0 + config.monthly_trend) ** _period_position(world)
    season = SEASON_DEMAND[world.weekday]
    rng = generator(config.seed, 505)
    drivers, slis = [], []
    incident_days: dict[int, set[int]] = {p: set() for p in range(len(cat.PRODUCTS))}
    for a in world.anomalies:  # cost anomalies often come with reliability trouble
        incident_days[int(world.pool.product[a.resource])].add(a.start_day)
    for pi, product in enumerate(cat.PRODUCTS):
        base, tx_ratio, customer_ratio = cat.PRODUCT_DRIVERS[product]
        volume = base * season * trend * world.demand[pi]
        requests = np.rint(volume * rng.normal(1.0, 0.01, len(dates))).astype(np.int64)
        transactions = np.rint(requests * tx_ratio * rng.normal(1.0, 0.02, len(dates))).astype(np.int64)
        customers = np.rint(requests * customer_ratio * rng.normal(1.0, 0.015, len(dates))).astype(np.int64)
        random_incidents = set(np.flatnonzero(rng.random(len(dates)) < 0.02).tolist())
        error_rate = 0.0008 * rng.lognormal(0.0, 0.3, len(dates))
        slow_rate = 0.012 * rng.lognormal(0.0, 0.25, len(dates))
        for d in sorted(incident_days[pi] | random_incidents):
            error_rate[d] *= rng.uniform(15, 60)
            slow_rate[d] *= rng.uniform(2, 5)
        for d, day in enumerate(dates):
            drivers.append(
                [day.isoformat(), product, int(requests[d]), int(transactions[d]), int(customers[d])]
            )
            total = int(requests[d])
            bad = min(total, round(total * min(error_rate[d], 0.5)))
            slow = min(total, round(total * min(slow_rate[d], 0.9)))
            slis.append([day.isoformat(), product, "availability", total - bad, total])
            slis.append([day.isoformat(), product, "latency_p95_under_300ms", total - slow, total])
    drivers.sort(key=lambda r: (r[0], r[1]))
    slis.sort(key=lambda r: (r[0], r[1], r[2]))
    business = out / "business"
    return [
        write_csv(
            business / "unit_drivers.csv",
            ("date", "product", "requests", "transactions", "active_customers"),
            drivers,
        ),
        write_csv(
            business / "sli_daily.csv", ("date", "service", "sli_name", "good_events", "total_events"), slis
        ),
        write_csv(
            business / "invoices.csv",
            ("billing_account_id", "billing_period", "invoice_id", "currency", "total"),
            [(world.accounts[p].account_id, label, inv, "USD", total) for p, label, inv, total in invoices],
        ),
    ]


def invoice_total(units: int) -> Decimal:
    return units_to_decimal(units).quantize(CENT, rounding=ROUND_HALF_UP)


def write_accounts(world: World, out: Path) -> Path:
    rows = [
        [
            a.account_id,
            a.name,
            world.accounts[a.payer].account_id,
            "billing" if a.is_payer else "linked",
            a.team,
            a.environment,
        ]
        for a in world.accounts
    ]
    header = ("account_id", "account_name", "billing_account_id", "account_type", "owner_team", "environment")
    return write_csv(out / "reference" / "accounts.csv", header, rows)


def write_readme(world: World, out: Path, layout: str, rows_per_period: dict[str, int]) -> Path:
    c = world.config
    ri = [x for x in world.commitments if x.kind == "RI"]
    sp = [x for x in world.commitments if x.kind == "SP"]
    lines = [
        "Synthetic cloud bill generated by tfm (orchestration.generator)",
        "",
        f"format:            {c.fmt} ({c.container}{', gzip' if c.container == 'csv' else ''})",
        f"seed:              {c.seed}",
        f"billing periods:   {', '.join(p.label for p in world.periods)}",
        f"rows per period:   {c.rows} (line items, exact)",
        f"billing accounts:  {c.billing_accounts}; usage accounts: {c.usage_accounts}",
        f"regions:           {', '.join(c.regions)}",
        f"untagged share:    {c.untagged_share:.0%} of resources carry no user tag",
        f"monthly trend:     {c.monthly_trend:+.1%} demand growth per month, weekly seasonality",
        f"commitments:       {len(ri)} Reserved Instances, {len(sp)} Savings Plans (some under-utilised)",
        f"injected anomalies: {len(world.anomalies)} (labels/anomalies.csv)",
        "",
        "Everything is synthetic: account ids, names, resources and amounts are made up. The same",
        "configuration (seed included) always produces byte-identical data files.",
        "",
        "Layout",
        layout,
        "  labels/anomalies.csv          injected spikes, level shifts and runaway growth (ground truth)",
        "  business/unit_drivers.csv     daily requests, transactions, active customers per product",
        "  business/sli_daily.csv        daily good/total events per service and SLI",
        "  business/invoices.csv         invoice total per billing account and period (sum of billed cost)",
        "  reference/accounts.csv        accounts, their billing account and intended owner team",
        "",
        "Rows per period",
        *(f"  {label}: {n}" for label, n in rows_per_period.items()),
        "",
    ]
    path = out / "README.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
