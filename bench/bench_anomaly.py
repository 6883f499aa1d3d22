"""Benchmark the cost anomaly detector on the generator's known truth.

Generates a synthetic CUR 2.0 bill (``--months`` billing periods of ``--rows`` line items; the generator
injects 2 anomalies per period, spikes, level shifts and runaway growth, and labels them in
``labels/anomalies.csv``), computes the daily cost per series straight from the parquet files with DuckDB,
scores it with ``python_models.anomaly.score`` and, in the same run, with a rolling z-score (mean and
standard deviation of the previous 28 days, z >= 3, same impact thresholds), and prints per series level:

- ``precision``: episodes that find a label / all episodes; an episode finds a label of its series when it
  overlaps the label's first week, with a day of grace (level shifts last to the end of the bill: later
  episodes of the series are other events). ``recall``: labels found / labels; ``recall_above``: the
  same over the labels whose injected cost reaches the alert thresholds on one day of their first week
  (below them, an alert is by definition not wanted). Episodes and labels in the detector's warm-up
  (its first ``min_history`` days) are left out;
- ``root_cause_top3``: found labels whose resource (or service) is among the top 3 values overall of
  ``root_causes`` over the level's dimensions (a resource-level series is its own resource);
- ``impact``: the episode's ``total_impact`` against the injected cost on the episode's days (the label's
  injected cost apportioned to days by its resource's actual daily cost): share within 20%, median
  relative error;
- speed: ``score`` on 100,000 series-days (resource-level series of the same bill), best of 3.

Levels: ``resource``, ``account_service`` (usage account x service) and ``service``. Scopes: ``all``
resources, and ``steady`` ones (billed every day of the bill): to fill its row count exactly, the
generator adds and drops resources from month to month and moves some under commitments, real but
unlabelled changes of cost that count as false alarms in the ``all`` rows.

The daily cost is the effective (amortized) usage cost: ``line_item_unblended_cost`` of ``Usage`` lines,
the reservation and Savings Plan effective cost of covered usage; fees, taxes, credits and refunds are not
usage.

    python bench/bench_anomaly.py                        # 24 months x 20,000 rows, seed 7
    python bench/bench_anomaly.py --data DIR             # reuse (or create) a generated bill in DIR
    python bench/bench_anomaly.py --z 4 --min-abs-impact 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.quoting import lit
from python_models.anomaly import episodes, rolling_zscore, root_causes, score, settings
from python_models.series import prepare

MATCH_DAYS = 7
LEVELS = {
    "resource": ("resource_id",),
    "account_service": ("usage_account_id", "service"),
    "service": ("service",),
}
DIMS = {
    "resource": ("usage_type", "region"),
    "account_service": ("resource_id", "region", "usage_type"),
    "service": ("resource_id", "usage_account_id", "region", "usage_type"),
}


def generate(out: Path, months: int, rows: int, seed: int) -> Path:
    labels = out / "labels" / "anomalies.csv"
    if labels.exists():
        return out
    from orchestration.generator import GeneratorConfig
    from orchestration.generator import generate as run_generator

    started = time.perf_counter()
    run_generator(GeneratorConfig(out=out, fmt="cur2", months=months, rows=rows, seed=seed))
    print(f"generated {months} months x {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
    return out


def daily_detail(out: Path) -> pd.DataFrame:
    """Daily effective usage cost per account, service, region, usage type and resource."""
    files = str(out / "cur2" / "data" / "*" / "*.parquet")
    sql = f"""
        select line_item_usage_start_date::date::timestamp as ds,
               line_item_usage_account_id as usage_account_id,
               line_item_product_code as service,
               coalesce(nullif(product_region_code, ''), 'global') as region,
               line_item_usage_type as usage_type,
               coalesce(nullif(line_item_resource_id, ''), '(none)') as resource_id,
               sum(case line_item_line_item_type
                     when 'Usage' then line_item_unblended_cost
                     when 'DiscountedUsage' then reservation_effective_cost
                     when 'SavingsPlanCoveredUsage' then savings_plan_savings_plan_effective_cost
                   end) as y
        from read_parquet({lit(files)})
        where line_item_line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')
        group by all
    """
    return duckdb.sql(sql).df()


def series_of(detail: pd.DataFrame, keys: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    d = detail.assign(unique_id=detail[list(keys)].astype(str).agg("|".join, axis=1))
    daily = d.groupby(["unique_id", "ds"], as_index=False)["y"].sum()
    return daily, d


def injected_on(labels: pd.DataFrame, detail: pd.DataFrame) -> pd.DataFrame:
    """Injected cost per label and day: the label's injected total apportioned by its resource's cost."""
    rows = []
    res_daily = detail.groupby(["resource_id", "ds"])["y"].sum()
    for lab in labels.itertuples():
        days = pd.date_range(lab.start_date, lab.end_date, freq="D")
        cost = res_daily.reindex(pd.MultiIndex.from_product([[lab.resource_id], days])).fillna(0).to_numpy()
        weight = cost / cost.sum() if cost.sum() > 0 else np.full(len(days), 1 / len(days))
        rows.append(
            pd.DataFrame({"anomaly_id": lab.anomaly_id, "ds": days, "injected": lab.injected_cost * weight})
        )
    return pd.concat(rows, ignore_index=True)


def detectable(
    labels: pd.DataFrame, daily: pd.DataFrame, injected: pd.DataFrame, min_abs: float, min_pct: float
) -> pd.Series:
    """Labels whose injected cost reaches both alert thresholds on at least one day of their first week,
    against their series' median daily cost over the 28 days before the label (an anomaly below the
    thresholds is, by the thresholds' definition, not worth an alert)."""
    start = injected.groupby("anomaly_id")["ds"].transform("min")
    first_week = injected[injected["ds"] < start + pd.Timedelta(days=MATCH_DAYS)]
    peak = first_week.groupby("anomaly_id")["injected"].max()
    out = {}
    by_series = dict(tuple(daily.groupby("unique_id")))
    for lab in labels.itertuples():
        s = by_series.get(lab.unique_id)
        if s is None:
            out[lab.anomaly_id] = False
            continue
        before = s[(s["ds"] < lab.start_date) & (s["ds"] >= lab.start_date - pd.Timedelta(days=28))]["y"]
        base = float(before.median()) if len(before) else 0.0
        p = float(peak.get(lab.anomaly_id, 0.0))
        out[lab.anomaly_id] = p >= min_abs and (base <= 0 or 100 * p / base >= min_pct)
    return pd.Series(out)


def evaluate(
    name: str,
    scored: pd.DataFrame,
    labels: pd.DataFrame,
    detail: pd.DataFrame,
    injected: pd.DataFrame,
    warmup_end: pd.Timestamp,
    dims: tuple[str, ...] | None,
    above: pd.Series,
) -> dict[str, object]:
    eps = episodes(scored)
    eps = eps[eps["start"] >= warmup_end].reset_index(drop=True)
    labs = labels[labels["start_date"] >= warmup_end]
    # An episode finds a label of its series when it overlaps the label's first week (a level shift lasts
    # to the end of the bill: later episodes of the series are other events), with a day of grace.
    pairs = eps.reset_index().merge(labs, on="unique_id", suffixes=("", "_label"))
    until = np.minimum(pairs["end_date"], pairs["start_date"] + pd.Timedelta(days=MATCH_DAYS - 1))
    pairs = pairs[(pairs["start"] <= until + pd.Timedelta(days=1)) & (pairs["end"] >= pairs["start_date"])]
    matched_eps = pairs["index"].nunique()
    found = set(pairs["anomaly_id"])
    big = [a for a in labs["anomaly_id"] if above.get(a, False)]
    res = {
        "detector": name,
        "episodes": len(eps),
        "labels": len(labs),
        "found": len(found),
        "precision": matched_eps / len(eps) if len(eps) else float("nan"),
        "recall": len(found) / len(labs) if len(labs) else float("nan"),
        "labels_above": len(big),
        "recall_above": len(found & set(big)) / len(big) if big else float("nan"),
    }
    # Impact: per label, its first matching episode against the injected cost on that episode's days.
    first = pairs.sort_values("start").drop_duplicates("anomaly_id")
    errs = []
    for p in first.itertuples():
        inj = injected[
            (injected["anomaly_id"] == p.anomaly_id) & (injected["ds"] >= p.start) & (injected["ds"] <= p.end)
        ]["injected"].sum()
        errs.append(abs(p.total_impact - inj) / inj if inj > 0 else np.nan)
    errs = np.array(errs, float)
    res["impact_within_20pct"] = float(np.mean(errs <= 0.2)) if len(errs) else float("nan")
    res["impact_median_err"] = float(np.nanmedian(errs)) if len(errs) else float("nan")
    if dims and len(first):
        ep_rows = eps.loc[first["index"].to_numpy()]
        rc = root_causes(ep_rows, detail, list(dims), top_n=3)
        hits = 0
        for p in first.itertuples():
            r = rc[(rc["unique_id"] == p.unique_id) & (rc["start"] == p.start) & (rc["overall_rank"] <= 3)]
            hits += bool(
                ((r["dimension"] == "resource_id") & (r["value"] == p.resource_id)).any()
                or ((r["dimension"] == "service") & (r["value"] == p.product_code)).any()
                or p.unique_id == p.resource_id  # a resource-level series is its own resource
            )
        res["root_cause_top3"] = hits / len(first)
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="folder of a generated bill (created when missing)")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--levels", choices=list(LEVELS), nargs="*", default=list(LEVELS))
    parser.add_argument("--z", type=float, default=5.0, help="score threshold of the robust detector")
    parser.add_argument("--min-abs-impact", type=float, default=5.0, help="dollars per day")
    parser.add_argument("--min-pct-impact", type=float, default=20.0, help="percent of expected")
    args = parser.parse_args(argv)

    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory(prefix="tfm-bench-anomaly-")
        args.data = Path(tmp.name)
    out = generate(args.data, args.months, args.rows, args.seed)
    detail_all = daily_detail(out)
    labels = pd.read_csv(out / "labels" / "anomalies.csv", dtype=str)
    labels["start_date"] = pd.to_datetime(labels["start_date"])
    labels["end_date"] = pd.to_datetime(labels["end_date"])
    labels["injected_cost"] = labels["injected_cost"].astype(float)
    labels["service"] = labels["product_code"]
    injected = injected_on(labels, detail_all)
    n_days = detail_all["ds"].nunique()
    present = detail_all.groupby("resource_id")["ds"].nunique()
    steady = present.index[present == n_days]
    print(
        f"{len(labels)} labelled anomalies {labels['kind'].value_counts().to_dict()}; {n_days} days, "
        f"{len(present)} resources, {len(steady)} of them billed every day; z {args.z}, alert floor "
        f"${args.min_abs_impact:g}/day and {args.min_pct_impact:g}%",
        flush=True,
    )
    kw = {"min_abs_impact": args.min_abs_impact, "min_pct_impact": args.min_pct_impact}
    results = []
    for scope, detail in (
        ("all", detail_all),
        ("steady", detail_all[detail_all["resource_id"].isin(steady)]),
    ):
        for level in args.levels:
            keys = LEVELS[level]
            daily, d = series_of(detail, keys)
            labs = labels.assign(unique_id=labels[list(keys)].astype(str).agg("|".join, axis=1))
            above = detectable(labs, daily, injected, args.min_abs_impact, args.min_pct_impact)
            warmup_end = daily["ds"].min() + pd.Timedelta(days=settings("D").min_history)
            t0 = time.perf_counter()
            scored = score(daily, "D", z=args.z, **kw)
            t1 = time.perf_counter()
            zs = rolling_zscore(daily, "D", **kw)
            t2 = time.perf_counter()
            for name, frame, secs, dims in (
                ("robust seasonal", scored, t1 - t0, DIMS[level]),
                ("rolling z-score", zs, t2 - t1, None),
            ):
                r = evaluate(name, frame, labs, d, injected, warmup_end, dims, above)
                r.update(scope=scope, level=level, series=daily["unique_id"].nunique(), seconds=secs)
                results.append(r)
            print(f"  {scope} {level}: scored {len(scored):,} points", flush=True)

    # Speed: exactly 100,000 series-days of resource-level series.
    sample = prepare(detail_all.rename(columns={"resource_id": "unique_id"})[["unique_id", "ds", "y"]])
    sample = sample.iloc[:100_000]
    score(sample)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        score(sample)
        times.append(time.perf_counter() - t0)

    table = pd.DataFrame(results)
    cols = [
        "scope",
        "level",
        "detector",
        "series",
        "labels",
        "found",
        "recall",
        "labels_above",
        "recall_above",
        "episodes",
        "precision",
        "root_cause_top3",
        "impact_within_20pct",
        "impact_median_err",
        "seconds",
    ]
    with pd.option_context(
        "display.width", 250, "display.max_columns", 30, "display.float_format", "{:.2f}".format
    ):
        print(table[[c for c in cols if c in table.columns]].to_string(index=False))
    print(
        f"\nspeed: score() on {len(sample):,} series-days ({sample['unique_id'].nunique()} series): "
        f"best {min(times):.3f} s of {', '.join(f'{t:.3f}' for t in times)}"
    )
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
