"""Benchmark the cost anomaly detector on the generator's known truth.

Generates a synthetic CUR 2.0 bill (``--months`` billing periods of ``--rows`` line items; the generator
injects 2 anomalies per period, spikes, level shifts and runaway growth, and writes them to
``labels/anomalies.csv``), computes the daily cost per series straight from the parquet files with
DuckDB, scores it with ``python_models.anomaly`` and, in the same run, with a rolling z-score, and prints:

- episode precision (episodes that overlap a labelled anomaly of their series / all episodes) and recall
  (labels overlapped by at least one episode of their series; labels starting in the warm-up, before the
  detector may alert, are left out);
- root cause: share of found labels whose own resource is among the top 3 values of the resource
  dimension of ``root_causes`` (and whose resource or service is among the top 3 overall);
- impact: the episode's ``total_impact`` against the injected cost on the episode's days (the label's
  injected cost apportioned to days by the resource's actual daily cost): median relative error and share
  within 20%;
- speed: ``score`` on 100,000 series-days (resource-level series of the same bill), best of 3.

The daily cost is the effective (amortized) usage cost: ``line_item_unblended_cost`` of ``Usage`` lines,
the reservation and Savings Plan effective cost of covered usage; fees, taxes, credits and refunds are not
usage. Series: usage account x service (``--level account_service``, the default) or service.

    python bench/bench_anomaly.py                        # 24 months x 20,000 rows, seed 7
    python bench/bench_anomaly.py --data DIR             # reuse (or create) a generated bill in DIR
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

from python_models.anomaly import episodes, rolling_zscore, root_causes, score

LEVELS = {
    "account_service": ("usage_account_id", "service"),
    "service": ("service",),
}
DIMS = ("resource_id", "usage_account_id", "service", "region", "usage_type")


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
        from read_parquet('{files}')
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


def evaluate(
    name: str,
    scored: pd.DataFrame,
    labels: pd.DataFrame,
    detail: pd.DataFrame,
    injected: pd.DataFrame,
    warmup_end: pd.Timestamp,
    with_causes: bool,
) -> dict[str, object]:
    eps = episodes(scored)
    eps = eps[eps["start"] >= warmup_end].reset_index(drop=True)
    labs = labels[labels["start_date"] >= warmup_end]
    # Overlap of episodes and labels of the same series (a one-day grace after the label's end).
    pairs = eps.reset_index().merge(labs, on="unique_id", suffixes=("", "_label"))
    pairs = pairs[
        (pairs["start"] <= pairs["end_date"] + pd.Timedelta(days=1)) & (pairs["end"] >= pairs["start_date"])
    ]
    matched_eps = pairs["index"].nunique()
    found = pairs["anomaly_id"].nunique()
    res = {
        "detector": name,
        "episodes": len(eps),
        "labels": len(labs),
        "true_eps": matched_eps,
        "found": found,
        "precision": matched_eps / len(eps) if len(eps) else float("nan"),
        "recall": found / len(labs) if len(labs) else float("nan"),
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
    if with_causes and len(first):
        ep_rows = eps.loc[first["index"].to_numpy()]
        rc = root_causes(ep_rows, detail, list(DIMS), top_n=3)
        hits_dim = hits_any = 0
        for p in first.itertuples():
            r = rc[(rc["unique_id"] == p.unique_id) & (rc["start"] == p.start)]
            top_res = r[(r["dimension"] == "resource_id") & (r["rank"] <= 3)]["value"].tolist()
            top3 = r[r["overall_rank"] <= 3]
            hits_dim += p.resource_id in top_res
            hits_any += bool(
                ((top3["dimension"] == "resource_id") & (top3["value"] == p.resource_id)).any()
                or ((top3["dimension"] == "service") & (top3["value"] == p.product_code)).any()
            )
        res["rc_resource_top3"] = hits_dim / len(first)
        res["rc_res_or_svc_overall_top3"] = hits_any / len(first)
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="folder of a generated bill (created when missing)")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--level", choices=sorted(LEVELS), nargs="*", default=["account_service", "service"])
    parser.add_argument("--min-abs-impact", type=float, default=2.0, help="dollars per day")
    parser.add_argument("--min-pct-impact", type=float, default=10.0, help="percent of expected")
    args = parser.parse_args(argv)

    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory(prefix="tfm-bench-anomaly-")
        args.data = Path(tmp.name)
    out = generate(args.data, args.months, args.rows, args.seed)
    detail = daily_detail(out)
    labels = pd.read_csv(out / "labels" / "anomalies.csv", dtype=str)
    labels["start_date"] = pd.to_datetime(labels["start_date"])
    labels["end_date"] = pd.to_datetime(labels["end_date"])
    labels["injected_cost"] = labels["injected_cost"].astype(float)
    labels["service"] = labels["product_code"]
    injected = injected_on(labels, detail)
    kinds = labels["kind"].value_counts().to_dict()
    print(
        f"{len(labels)} labelled anomalies {kinds}; {detail['ds'].nunique()} days, "
        f"{detail['resource_id'].nunique()} resources",
        flush=True,
    )

    results = []
    for level in args.level:
        keys = LEVELS[level]
        daily, d = series_of(detail, keys)
        labs = labels.assign(unique_id=labels[list(keys)].astype(str).agg("|".join, axis=1))
        warmup_end = daily["ds"].min() + pd.Timedelta(days=21)
        kw = {"min_abs_impact": args.min_abs_impact, "min_pct_impact": args.min_pct_impact}
        t0 = time.perf_counter()
        scored = score(daily, "D", **kw)
        t1 = time.perf_counter()
        z = rolling_zscore(daily, "D", **kw)
        t2 = time.perf_counter()
        for name, frame, secs, causes in (
            ("robust seasonal", scored, t1 - t0, True),
            ("rolling z-score", z, t2 - t1, False),
        ):
            r = evaluate(name, frame, labs, d, injected, warmup_end, causes)
            r.update(level=level, series=daily["unique_id"].nunique(), points=len(frame), seconds=secs)
            results.append(r)

    # Speed: 100,000 series-days of resource-level series.
    res_daily = (
        detail.groupby(["resource_id", "ds"], as_index=False)["y"]
        .sum()
        .rename(columns={"resource_id": "unique_id"})
    )
    counts = res_daily.groupby("unique_id").size()
    keep = counts.index[np.cumsum(counts.to_numpy()) <= 100_000]
    sample = res_daily[res_daily["unique_id"].isin(keep)]
    sample = pd.concat([sample, res_daily[~res_daily["unique_id"].isin(keep)].head(100_000 - len(sample))])
    score(sample)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        scored = score(sample)
        times.append(time.perf_counter() - t0)

    table = pd.DataFrame(results)
    cols = [
        "level",
        "detector",
        "series",
        "points",
        "labels",
        "found",
        "recall",
        "episodes",
        "true_eps",
        "precision",
        "rc_resource_top3",
        "rc_res_or_svc_overall_top3",
        "impact_within_20pct",
        "impact_median_err",
        "seconds",
    ]
    with pd.option_context(
        "display.width", 250, "display.max_columns", 30, "display.float_format", "{:.3f}".format
    ):
        print(table[[c for c in cols if c in table.columns]].to_string(index=False))
    print(
        f"\nspeed: score() on {len(scored):,} series-days ({scored['unique_id'].nunique()} series): "
        f"best {min(times):.3f} s of {', '.join(f'{t:.3f}' for t in times)}"
    )
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
