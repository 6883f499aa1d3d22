"""Benchmark the spend forecast against single statsforecast models on generated daily cost.

Generates ``--series`` daily series of ``--days`` + ``--horizon`` days with a known shape: a level (log-normal
around $200/day), a linear trend (-10% to +110% a year), a multiplicative weekly season (weekend dip of up
to 40%) and AR(1) noise (3 to 15% of the level). The last ``--horizon`` days are held out; every method
forecasts them from the same ``--days`` of history, on ``--n-jobs`` processes, and is scored by
``python_models.forecasting.accuracy`` (utilsforecast's MASE with weekly scaling, sMAPE, WAPE, coverage):

- ``forecast``: ``python_models.forecasting.forecast`` (per-series choice by backtest);
- ``AutoETS``, ``MSTL``, ``SeasonalNaive``: statsforecast's ``StatsForecast(...).forecast`` on the full
  history, each model alone, with its native intervals.

Wall seconds include everything (process start, fitting, choice). The first call of each method on two
series warms up imports and process pools first (not timed). CPU seconds are the parent's and its
workers' user + system time (a shared machine can stretch wall time; CPU time less so).

    python bench/bench_forecast.py                     # 1,000 series x 730 days, 30-day horizon, 2 jobs
    python bench/bench_forecast.py --series 200 --methods forecast SeasonalNaive
    python bench/bench_forecast.py --bill DIR          # daily cost per service of a generated bill
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from python_models.forecasting import accuracy, forecast

METHODS = ("forecast", "AutoETS", "MSTL", "SeasonalNaive")


def make_series(n_series: int = 1000, n_days: int = 760, seed: int = 0) -> pd.DataFrame:
    """Daily cost with a known trend and weekly season (see the module doc)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_days)
    level = np.exp(rng.normal(np.log(200), 1.0, n_series))[:, None]
    growth = rng.normal(0.3, 0.4, n_series)[:, None] / 365  # relative growth per day
    amp = rng.uniform(0.0, 0.4, n_series)[:, None]
    phase = rng.integers(0, 7, n_series)[:, None]
    dow = (t[None, :] + phase) % 7
    weekly = 1 - amp * (dow >= 5) + amp * 0.1 * np.sin(2 * np.pi * dow / 7)
    cv = rng.uniform(0.03, 0.15, n_series)[:, None]
    phi = rng.uniform(0, 0.6, n_series)[:, None]
    eps = rng.normal(0, 1, (n_series, n_days))
    ar = np.empty_like(eps)
    ar[:, 0] = eps[:, 0]
    for k in range(1, n_days):
        ar[:, k] = phi[:, 0] * ar[:, k - 1] + np.sqrt(1 - phi[:, 0] ** 2) * eps[:, k]
    y = np.maximum(level * (1 + growth * t[None, :]) * weekly * (1 + cv * ar), 0)
    ds = pd.date_range("2024-01-01", periods=n_days, freq="D")
    return pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i:04d}" for i in range(n_series)], n_days),
            "ds": np.tile(ds, n_series),
            "y": y.ravel(),
        }
    )


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_method(name: str, train: pd.DataFrame, horizon: int, levels: list[int], n_jobs: int) -> pd.DataFrame:
    """Forecasts in the common shape: unique_id, ds, mean, lo_<l>, hi_<l>, model."""
    if name == "forecast":
        return forecast(train, horizon, levels, "D", n_jobs=n_jobs)
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS, SeasonalNaive

    model = {
        "AutoETS": AutoETS(season_length=7),
        "MSTL": MSTL(season_length=7),
        "SeasonalNaive": SeasonalNaive(season_length=7),
    }[name]
    sf = StatsForecast(models=[model], freq="D", n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = sf.forecast(df=train, h=horizon, level=levels)
    out = fc.rename(columns={name: "mean"})
    for lv in levels:
        out = out.rename(columns={f"{name}-lo-{lv}": f"lo_{lv}", f"{name}-hi-{lv}": f"hi_{lv}"})
    out["model"] = name
    return out


def bill_series(out: Path, months: int, rows: int, seed: int) -> pd.DataFrame:
    """Daily effective usage cost per service of a generated CUR 2.0 bill (generated when missing)."""
    if not (out / "cur2").exists():
        from orchestration.generator import GeneratorConfig
        from orchestration.generator import generate as run_generator

        run_generator(GeneratorConfig(out=out, fmt="cur2", months=months, rows=rows, seed=seed))
    from bench_anomaly import daily_detail  # the same effective usage cost, per service here

    detail = daily_detail(out)
    series = detail.groupby(["service", "ds"], as_index=False)["y"].sum().rename(columns={"service": "unique_id"})
    return series.sort_values(["unique_id", "ds"], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=730, help="days of history")
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="*", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--bill",
        type=Path,
        help="instead of the generated series: daily cost per service of a generated CUR 2.0 bill in this "
        "folder (generated with --months, --rows when missing), scored over --windows rolling windows",
    )
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--windows", type=int, default=3)
    args = parser.parse_args(argv)
    levels = [80, 95]

    if args.bill is not None:
        df = bill_series(args.bill, args.months, args.rows, args.seed)
        end = df["ds"].max()
        cutoffs = [end - pd.Timedelta(days=args.horizon * w) for w in range(args.windows, 0, -1)]
        what = f"{df['unique_id'].nunique()} services x {df['ds'].nunique()} days of a generated bill"
    else:
        df = make_series(args.series, args.days + args.horizon, args.seed)
        cutoffs = [df["ds"].max() - pd.Timedelta(days=args.horizon)]
        what = f"{args.series:,} series x {args.days} days"
    print(
        f"{what}, horizon {args.horizon}, {len(cutoffs)} window(s), n_jobs {args.n_jobs}, levels {levels}",
        flush=True,
    )
    first_train = df[df["ds"] <= cutoffs[0]]
    warm = first_train[first_train["unique_id"].isin(first_train["unique_id"].unique()[:2])]
    rows = []
    for name in args.methods:
        run_method(name, warm, args.horizon, levels, args.n_jobs)
        wall = cpu = 0.0
        scored, chosen = [], []
        for cutoff in cutoffs:
            train = df[df["ds"] <= cutoff]
            test = df[(df["ds"] > cutoff) & (df["ds"] <= cutoff + pd.Timedelta(days=args.horizon))]
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            fc = run_method(name, train, args.horizon, levels, args.n_jobs)
            wall, cpu = wall + time.perf_counter() - t0, cpu + cpu_seconds() - cpu0
            scored.append(fc.merge(test, on=["unique_id", "ds"]).assign(cutoff=cutoff))
            chosen.append(fc.groupby("unique_id")["model"].first())
        _, overall = accuracy(pd.concat(scored, ignore_index=True), df, levels, season_length=7)
        o = overall.iloc[0]
        row = {
            "method": name,
            "mase": o["mase"],
            "smape": o["smape"],
            "wape": o["wape"],
            "coverage_80": o["coverage_80"],
            "coverage_95": o["coverage_95"],
            "wall_s": wall,
            "cpu_s": cpu,
        }
        if name == "forecast":
            counts = pd.concat(chosen).value_counts()
            row["models"] = ", ".join(f"{k} {v}" for k, v in counts.items())
        rows.append(row)
        print(f"  {name}: {wall:.1f} s", flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context(
        "display.width", 200, "display.max_colwidth", 80, "display.float_format", "{:.3f}".format
    ):
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
