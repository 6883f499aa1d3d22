"""Spend forecasts with prediction intervals, chosen per series by a rolling-origin backtest.

Input is the long format of :mod:`python_models.series`: ``unique_id``, ``ds``, ``y`` (cost per period, in
money units; the forecasts are in the same units). Preparation, per series:

- duplicates of ``(unique_id, ds)`` are summed (or rejected with ``duplicates="raise"``);
- missing periods are 0 (a day absent from a bill is a day without charges), and every series is extended
  with zeros to the latest timestamp of the frame (``align_end``), so all forecasts start together;
- negative values (credits, refunds) are taken as 0 spend in the model input: these are forecasts of
  spend; credits are rare one-off events that would otherwise pull a seasonal model below zero for weeks.

**Models** (statsforecast). Each series is routed by its history:

- *regular* (enough history, not flat, under 30% zeros): candidates ``AutoETS`` restricted to one
  specification, ``ets_model``: ETS(M,A,M) by default (multiplicative error and weekly season, additive
  undamped trend; ETS(A,A,A) when the series has zeros); ``AutoTheta`` (standard theta on the last half
  of the history); ``SeasonalNaive``; and ``MSTL`` where a second seasonal period has enough history
  (daily data over two years: the yearly season) or for sub-daily data, where it leads (daily and weekly
  seasons; ETS holds one, and none longer than 24 periods);
- *intermittent* (30% or more zero periods): ``CrostonOptimized`` (conformal intervals), ``SeasonalNaive``,
  ``Naive``, ``HistoricAverage``;
- *fallback* (short, flat or all-zero): ``Naive`` and ``HistoricAverage`` (and ``SeasonalNaive`` when a
  season fits), or ``Naive`` alone below 4 points. Never an exception: a candidate that fails is dropped.

Why one ETS specification: on the benchmark's 1,000 daily series (bench/bench_forecast.py), AutoETS's
full search (ZZZ) costs 8 times the fit of ETS(M,A,M), which it mostly picks anyway, for a worse MASE
(0.896 against 0.886 for this module); a fixed trend is also fitted undamped only (``"MAdM"`` asks for
damping; ``"ZZZ"`` restores the full search). MSTL alone: 0.957; seasonal naive: 1.163.

**Choice.** Each candidate is fitted once on the history up to ``cutoff = end - h_cv`` (``h_cv`` = the
horizon, or a quarter of the series if shorter) and scored on the held-out ``h_cv`` periods (mean absolute
error; root mean square error for intermittent series, whose totals matter more than their medians). The
route's first candidate (its default) is kept unless another one beats it by ``switch_margin`` (15%): on
series of one kind, per-series choice on a single window mostly picks noise (measured on 300 series:
choosing freely among SeasonalNaive, Theta and ETS(M,A,M) gave MASE 0.912 against 0.896 for ETS(M,A,M)
everywhere; with a 15 to 20% margin 0.897), while a clear win still catches the series the default does
not fit. The chosen model is then brought up to date without refitting (statsforecast's ``forward``: the
same parameters and initial states, re-filtered through the held-out periods) and forecasts ``horizon``
steps; models without ``forward`` are refitted on the whole history (they are the cheap ones). So each
candidate is fitted once per series: the backtest costs no second fit.

**Output.** Means and intervals are clipped at 0 and made consistent (``lo_95 <= lo_80 <= mean <= hi_80 <=
hi_95``). An interval a model cannot give (too few points) is ``[0, 2 x the series' maximum]``. A model
whose mean leaves the plausible range (over ``CEILING_FACTOR`` times the series' largest value: a
multiplicative ETS fit on spiky data can explode) is dropped for the next candidate, and interval bounds are
capped there: an upper bound of 10^32 says nothing a reader can use, and overflows the warehouse's decimals.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsforecast.models import (
    MSTL,
    AutoETS,
    AutoTheta,
    CrostonOptimized,
    HistoricAverage,
    Naive,
    SeasonalNaive,
)
from statsforecast.utils import ConformalIntervals

from python_models.series import DAY_NS, prepare, season_lengths, step_nanos, to_offset

log = logging.getLogger(__name__)

ROUTES = ("regular", "intermittent", "fallback")
ETS_MAX_SEASON = 24  # statsforecast's ETS drops seasonality beyond 24
INTERMITTENT_ZEROS = 0.3


@dataclass
class Config:
    """Everything a worker needs to fit one series (picklable)."""

    horizon: int
    levels: tuple[int, ...]
    seasons: tuple[int, ...]
    max_history: int
    ets_model: str = "MAM"
    switch_margin: float = 0.15
    models: tuple[str, ...] | None = None
    conformal_windows: int = 2
    subdaily: bool = False


@dataclass
class SeriesResult:
    uid: object
    route: str
    model: str
    mean: np.ndarray
    bounds: dict[str, np.ndarray]
    cv_errors: dict[str, float] = field(default_factory=dict)
    cv_mae: float = math.nan
    cv_scale: float = math.nan


# --- per-series planning -----------------------------------------------------------------------------


def _plan(y: np.ndarray, cfg: Config) -> tuple[str, list[tuple[str, object, int]], int, int]:
    """(route, candidates as (name, model, input length), season m, h_cv) for one series."""
    n, h = len(y), cfg.horizon
    h_cv = max(1, min(h, n // 4))
    n_fit = n - h_cv
    seasons = [s for s in cfg.seasons if n_fit >= 2 * s]
    m = seasons[0] if seasons else 1
    L = cfg.max_history
    zeros = float(np.mean(y == 0))
    flat = n_fit < 2 or float(np.ptp(y)) == 0.0

    if n < 4 or flat or zeros == 1.0:
        route = "fallback"
    elif zeros >= INTERMITTENT_ZEROS:
        route = "intermittent"
    elif n_fit >= max(2 * m, 14) + 1:
        route = "regular"
    else:
        route = "fallback"

    cands: list[tuple[str, object, int]] = []
    if route == "fallback":
        if n < 4:
            return route, [("Naive", Naive(), L)], m, h_cv
        cands = [("Naive", Naive(), L), ("HistoricAverage", HistoricAverage(), L)]
        if m > 1:
            cands.append(("SeasonalNaive", SeasonalNaive(season_length=m), L))
        return route, cands, m, h_cv
    if route == "intermittent":
        need = (cfg.conformal_windows + 1) * h + 2
        if n_fit >= need:
            cands.append(
                (
                    "CrostonOptimized",
                    CrostonOptimized(
                        prediction_intervals=ConformalIntervals(h=h, n_windows=cfg.conformal_windows)
                    ),
                    max(L, need),
                )
            )
        if m > 1:
            cands.append(("SeasonalNaive", SeasonalNaive(season_length=m), L))
        cands += [("Naive", Naive(), L), ("HistoricAverage", HistoricAverage(), L)]
        return route, cands, m, h_cv

    positive = bool(np.all(y[-min(n, L + h_cv) :] > 0))  # the fitting and the forward windows
    spec, damped = _ets_spec(cfg.ets_model)
    if not positive:  # multiplicative error or season need positive data
        spec = spec.replace("M", "A")
    if m == 1 or m > ETS_MAX_SEASON:
        spec = spec[:2] + "N"
    long_season = m > ETS_MAX_SEASON
    mstl_len = max(L, 2 * seasons[-1] + 1) if seasons else L
    available = {
        "AutoETS": lambda: AutoETS(season_length=1 if spec[2] == "N" else m, model=spec, damped=damped),
        "AutoTheta": lambda: AutoTheta(season_length=m, model="STM"),
        "SeasonalNaive": lambda: SeasonalNaive(season_length=max(m, 1)),
        "MSTL": lambda: MSTL(season_length=seasons if seasons else [m]),
        "Naive": lambda: Naive(),
        "HistoricAverage": lambda: HistoricAverage(),
    }
    if cfg.models is not None:
        names = [name for name in cfg.models if name in available]
        if m == 1:  # no season fits in the history
            names = [name for name in names if name not in ("MSTL", "SeasonalNaive")] or ["Naive"]
    else:
        names = ["AutoETS", "AutoTheta", "SeasonalNaive"]
        if cfg.subdaily and m > 1:
            # Sub-daily cost has a daily and a weekly season: MSTL holds both, ETS at most one (and none
            # longer than 24 periods), so MSTL leads and ETS is a challenger only where it can hold the day.
            names = ["MSTL", *(names if not long_season else names[1:])]
        elif len(seasons) >= 2:
            names.append("MSTL")  # daily data over two years: the yearly season, which ETS cannot hold
        if m == 1:  # no season fits in the history: the naive forecast stands in for the seasonal one
            names = [name if name != "SeasonalNaive" else "Naive" for name in names]
    if not names:
        names = ["Naive"]
    for name in names:
        # Theta's drift is half the slope of a straight line through its input: the last half of the
        # history serves it as well (measured: same choices, half of its fitting time).
        length = {"MSTL": mstl_len, "AutoTheta": max(L // 2, 3 * m)}.get(name, L)
        cands.append((name, available[name](), length))
    return route, cands, m, h_cv


def _ets_spec(text: str) -> tuple[str, bool | None]:
    """ETS specification and damping from ``"MAM"``, ``"MAdM"`` (damped) or ``"ZZZ"`` (AutoETS chooses,
    damping included). A fixed trend is undamped unless spelled ``Ad``: AutoETS would otherwise fit both
    and keep the better AICc, at twice the cost."""
    text = text.strip()
    damped = "d" in text
    spec = text.replace("d", "").upper()
    if len(spec) != 3 or spec[0] not in "AMZ" or spec[1] not in "NAMZ" or spec[2] not in "NAMZ":
        raise ValueError(f"ets_model {text!r} is not an ETS specification like 'MAM', 'MAdM' or 'ZZZ'")
    if "Z" in spec[1]:
        return spec, None
    return spec, damped if spec[1] != "N" else None


def _predict(model, y: np.ndarray, h: int, levels: list[int], fit: bool):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fit:
            model.fit(y)
            return model.predict(h=h, level=levels)
        return model.forecast(y=y, h=h, level=levels)


def _fit_one(uid, y: np.ndarray, cfg: Config) -> SeriesResult:
    """Backtest the candidates of one series on its last h_cv periods, choose, and forecast."""
    levels = list(cfg.levels)
    route, cands, m, h_cv = _plan(y, cfg)
    n = len(y)
    fitted: dict[str, object] = {}
    errors: dict[str, float] = {}
    mae: dict[str, float] = {}
    if len(cands) > 1:
        train, test = y[: n - h_cv], y[n - h_cv :]
        for name, model, length in cands:
            try:
                pred = _predict(model, train[-length:], h_cv, [], fit=True)
                err = np.asarray(pred["mean"], float)[:h_cv] - test
                if not np.all(np.isfinite(err)):
                    continue
                fitted[name] = model
                mae[name] = float(np.mean(np.abs(err)))
                errors[name] = float(np.sqrt(np.mean(err**2))) if route == "intermittent" else mae[name]
            except Exception as exc:  # noqa: BLE001 - a failing candidate is dropped, never the series
                log.debug("series %r: candidate %s failed in the backtest: %s", uid, name, exc)
                continue
    chosen = None
    if errors:
        default = next((name for name, _, _ in cands if name in errors), None)
        best = min(errors, key=errors.get)
        chosen = default
        if best != default and errors[best] < (1.0 - cfg.switch_margin) * errors[default]:
            chosen = best
    elif cands:
        chosen = cands[0][0]

    result = None
    for name in [chosen] + [c[0] for c in cands if c[0] != chosen] + ["Naive"]:
        if name is None:
            continue
        spec = next((c for c in cands if c[0] == name), None)
        length = spec[2] if spec else cfg.max_history
        try:
            model = fitted.get(name)
            if model is not None and hasattr(model, "forward"):
                # Same first period as the fit, extended by the held-out periods: the fitted initial
                # states (a weekly season's phase among them) stay aligned with the data.
                start = max(0, n - h_cv - length)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = model.forward(y=y[start:], h=cfg.horizon, level=levels)
            else:
                fresh = spec[1].new() if spec else Naive()
                out = _predict(fresh, y[-length:], cfg.horizon, levels, fit=False)
            mean = np.asarray(out["mean"], float)
            if not np.all(np.isfinite(mean)) or (n and float(np.max(mean)) > _ceiling(y)):
                log.debug("series %r: %s forecast leaves the plausible range; next candidate", uid, name)
                continue
            bounds = {}
            for lv in levels:
                bounds[f"lo_{lv}"] = np.asarray(out.get(f"lo-{lv}", np.full(cfg.horizon, np.nan)), float)
                bounds[f"hi_{lv}"] = np.asarray(out.get(f"hi-{lv}", np.full(cfg.horizon, np.nan)), float)
            result = SeriesResult(uid, route, name, mean, bounds)
            break
        except Exception as exc:  # noqa: BLE001
            log.debug("series %r: %s failed to forecast: %s", uid, name, exc)
            continue
    if result is None:  # unreachable in practice: Naive cannot fail on a non-empty series
        last = float(y[-1]) if n else 0.0
        result = SeriesResult(
            uid,
            route,
            "Naive",
            np.full(cfg.horizon, last),
            {f"{b}_{lv}": np.full(cfg.horizon, np.nan) for lv in levels for b in ("lo", "hi")},
        )
    result.cv_errors = errors
    result.cv_mae = mae.get(result.model, math.nan)
    # MASE scale of the selection window: in-sample seasonal naive MAE of the training part.
    train = y[: n - h_cv]
    lag = m if len(train) > m else 1
    result.cv_scale = float(np.mean(np.abs(train[lag:] - train[:-lag]))) if len(train) > lag else math.nan
    _finish(result, y, levels)
    return result


CEILING_FACTOR = 100.0


def _ceiling(y: np.ndarray) -> float:
    """The largest value a forecast of ``y`` may take: ``CEILING_FACTOR`` times the history's largest."""
    return CEILING_FACTOR * max(float(np.max(np.abs(y))) if len(y) else 0.0, 1.0)


def _finish(r: SeriesResult, y: np.ndarray, levels: list[int]) -> None:
    """Clip at 0, fill intervals a model could not give, cap them at the ceiling, and order them."""
    top = 2.0 * float(np.max(y)) if len(y) else 0.0
    ceiling = _ceiling(y)
    mean = np.maximum(np.nan_to_num(r.mean, nan=0.0), 0.0)
    inner_lo, inner_hi = mean, mean
    for lv in sorted(levels):
        lo = r.bounds[f"lo_{lv}"]
        hi = r.bounds[f"hi_{lv}"]
        lo = np.where(np.isfinite(lo), lo, 0.0)
        hi = np.minimum(np.where(np.isfinite(hi), hi, np.maximum(top, mean)), np.maximum(ceiling, mean))
        lo = np.minimum(np.maximum(lo, 0.0), inner_lo)
        hi = np.maximum(hi, inner_hi)
        r.bounds[f"lo_{lv}"], r.bounds[f"hi_{lv}"] = lo, hi
        inner_lo, inner_hi = lo, hi
    r.mean = mean


def _fit_chunk(items: list[tuple[object, np.ndarray]], cfg: Config) -> list[SeriesResult]:
    return [_fit_one(uid, y, cfg) for uid, y in items]


# --- public API ------------------------------------------------------------------------------------


def default_max_history(freq: str) -> int:
    """Periods of history the models see (the cost of ETS grows with it): two years of daily data (on 200
    benchmark series, ETS(M,A,M) gave MASE 0.853 on 730 days, 0.861 on 540), 3 weeks of sub-daily data
    (two weekly cycles for MSTL's weekly season), 120 periods otherwise."""
    nanos = step_nanos(freq)
    if nanos == DAY_NS:
        return 730
    if nanos is not None and nanos < DAY_NS:
        return int(21 * DAY_NS // nanos)
    return 120


def _n_jobs(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs < 1:
        return max(
            1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        )
    return int(n_jobs)


def forecast(
    df: pd.DataFrame,
    horizon: int,
    levels: tuple[int, ...] | list[int] = (80, 95),
    freq: str = "D",
    models: list[str] | tuple[str, ...] | None = None,
    *,
    n_jobs: int | None = None,
    max_history: int | None = None,
    ets_model: str = "MAM",
    switch_margin: float = 0.15,
    duplicates: str = "sum",
    align_end: bool = True,
) -> pd.DataFrame:
    """Forecast every series ``horizon`` periods ahead with the model its backtest chose.

    Returns one row per series and future period: ``unique_id``, ``ds``, ``mean``, ``lo_<level>`` and
    ``hi_<level>`` for each of ``levels`` (percent), ``model`` (the chosen candidate), ``route``
    (``regular``, ``intermittent`` or ``fallback``) and ``cv_mase`` (the chosen model's MASE on the selection
    window; an in-sample figure of the choice, the honest one is :func:`backtest`'s).

    ``models`` restricts the regular route's candidates (names among ``AutoETS``, ``AutoTheta``,
    ``SeasonalNaive``, ``MSTL``, ``Naive``, ``HistoricAverage``; the first is the default). ``n_jobs``:
    worker processes (default: the CPUs this process may use).
    """
    if int(horizon) < 1:
        raise ValueError("horizon must be a positive number of periods")
    _ets_spec(ets_model)
    levels = tuple(sorted({int(lv) for lv in levels}))
    if any(not 0 < lv < 100 for lv in levels):
        raise ValueError("levels are percentages between 0 and 100")
    if models is not None:
        known = {"AutoETS", "AutoTheta", "SeasonalNaive", "MSTL", "Naive", "HistoricAverage"}
        unknown = [m for m in models if m not in known]
        if unknown or not models:
            raise ValueError(f"unknown model(s) {unknown}; choose among {sorted(known)}")
    frame = prepare(df, freq, duplicates=duplicates, align_end=align_end)
    cols = [
        "unique_id",
        "ds",
        "mean",
        *[f"{b}_{lv}" for lv in levels for b in ("lo", "hi")],
        "model",
        "route",
        "cv_mase",
    ]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    cfg = Config(
        horizon=int(horizon),
        levels=levels,
        seasons=tuple(season_lengths(freq)),
        max_history=int(max_history or default_max_history(freq)),
        ets_model=ets_model,
        switch_margin=float(switch_margin),
        models=tuple(models) if models is not None else None,
        subdaily=(step_nanos(freq) or DAY_NS) < DAY_NS,
    )
    results = _run(frame, cfg, _n_jobs(n_jobs))
    return _assemble(frame, results, cfg, freq, cols)


def _run(frame: pd.DataFrame, cfg: Config, n_jobs: int) -> list[SeriesResult]:
    y_all = np.maximum(frame["y"].to_numpy(float), 0.0)
    codes, uniques = pd.factorize(frame["unique_id"], sort=False)
    bounds = np.flatnonzero(np.diff(codes)) + 1
    pieces = np.split(y_all, bounds)
    items = list(zip(uniques, pieces, strict=True))
    if n_jobs == 1 or len(items) < 2 * n_jobs:
        return _fit_chunk(items, cfg)
    # Interleaved chunks balance long and short series; several per worker even out their cost.
    n_chunks = min(len(items), n_jobs * 8)
    chunks = [items[i::n_chunks] for i in range(n_chunks)]
    with ProcessPoolExecutor(max_workers=n_jobs) as pool:
        parts = list(pool.map(_fit_chunk, chunks, [cfg] * len(chunks)))
    order = {uid: i for i, uid in enumerate(uniques)}
    flat = [r for part in parts for r in part]
    flat.sort(key=lambda r: order[r.uid])
    return flat


def _future_index(last: pd.Series, horizon: int, freq: str) -> np.ndarray:
    nanos = step_nanos(freq)
    if nanos is not None:
        base = last.to_numpy().astype("int64")
        steps = np.arange(1, horizon + 1, dtype="int64") * nanos
        return (base[:, None] + steps[None, :]).ravel().view("datetime64[ns]")
    offset = to_offset(freq)
    return np.concatenate([pd.date_range(t, periods=horizon + 1, freq=offset)[1:].to_numpy() for t in last])


def _assemble(
    frame: pd.DataFrame, results: list[SeriesResult], cfg: Config, freq: str, cols: list[str]
) -> pd.DataFrame:
    h = cfg.horizon
    last = frame.groupby("unique_id", sort=False, observed=True)["ds"].max()
    last = last.loc[[r.uid for r in results]]
    out = pd.DataFrame(
        {
            "unique_id": np.repeat(np.array([r.uid for r in results], dtype=object), h),
            "ds": _future_index(last, h, freq),
            "mean": np.concatenate([r.mean for r in results]),
        }
    )
    if frame["unique_id"].dtype != object:
        out["unique_id"] = out["unique_id"].astype(frame["unique_id"].dtype)
    for lv in cfg.levels:
        for b in ("lo", "hi"):
            out[f"{b}_{lv}"] = np.concatenate([r.bounds[f"{b}_{lv}"] for r in results])
    out["model"] = np.repeat([r.model for r in results], h)
    out["route"] = np.repeat([r.route for r in results], h)
    with np.errstate(invalid="ignore", divide="ignore"):
        mase = [r.cv_mae / r.cv_scale if r.cv_scale and r.cv_scale > 0 else math.nan for r in results]
    out["cv_mase"] = np.repeat(np.asarray(mase, float), h)
    return out[cols]


# --- accuracy ----------------------------------------------------------------------------------------


@dataclass
class Backtest:
    """Result of :func:`backtest`: per-series and overall accuracy, and the forecasts scored."""

    per_series: pd.DataFrame
    overall: pd.DataFrame
    forecasts: pd.DataFrame


def accuracy(
    forecasts: pd.DataFrame,
    history: pd.DataFrame,
    levels: tuple[int, ...] | list[int] = (80, 95),
    season_length: int = 7,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy of forecasts against actuals, with utilsforecast's metrics.

    ``forecasts`` has ``unique_id``, ``ds``, ``cutoff`` (last period of history used), ``y`` (actual),
    ``mean`` and the ``lo_<level>``/``hi_<level>`` columns; ``history`` is the actuals in long format
    (for the MASE scale, the in-sample seasonal naive MAE up to each cutoff).

    Per series (averaged over cutoffs): ``mase`` (seasonal scaling, ``season_length``), ``smape``
    (utilsforecast's: mean of |y - f| / (|y| + |f|), between 0 and 1), ``wape`` (sum |y - f| / sum |y|),
    ``bias`` (mean of f - y, in units of y), ``bias_pct`` (sum(f - y) / sum(y), percent) and
    ``coverage_<level>`` (share of actuals inside the interval). Overall: the mean over series of MASE and
    sMAPE, and WAPE, bias and coverage pooled over every forecast point; ``accuracy_pct`` = 100 x (1 -
    WAPE), the forecast accuracy KPI.
    """
    from utilsforecast.losses import bias, coverage, mase, smape, wape

    levels = sorted(int(lv) for lv in levels)
    f = forecasts.rename(columns={"mean": "fc"}).copy()
    for lv in levels:
        f = f.rename(columns={f"lo_{lv}": f"fc-lo-{lv}", f"hi_{lv}": f"fc-hi-{lv}"})
    hist = history.loc[:, ["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"])
    if "cutoff" not in f.columns:  # the last period of history before each series' first forecast
        first = f.groupby("unique_id")["ds"].min().rename("first")
        h2 = hist.join(first, on="unique_id")
        f["cutoff"] = f["unique_id"].map(h2[h2["ds"] < h2["first"]].groupby("unique_id")["ds"].max())
    parts = {
        "mase": mase(f, ["fc"], season_length, hist),
        "smape": smape(f, ["fc"]),
        "wape": wape(f, ["fc"]),
        "bias": bias(f, ["fc"]),
    }
    for lv in levels:
        parts[f"coverage_{lv}"] = coverage(f, ["fc"], lv)
    per = None
    for name, frame in parts.items():
        frame = frame.rename(columns={"fc": name})
        per = frame if per is None else per.merge(frame, on=["unique_id", "cutoff"])
    totals = f.assign(err=f["fc"] - f["y"]).groupby(["unique_id", "cutoff"])[["err", "y"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        per = per.merge(
            (100 * totals["err"] / totals["y"]).rename("bias_pct").reset_index(), on=["unique_id", "cutoff"]
        )
    per = per.replace([np.inf, -np.inf], np.nan)
    metric_cols = ["mase", "smape", "wape", "bias", "bias_pct", *[f"coverage_{lv}" for lv in levels]]
    per_series = per.groupby("unique_id", sort=False)[metric_cols].mean().reset_index()
    per_series["points"] = (
        f.groupby("unique_id", sort=False).size().reindex(per_series["unique_id"]).to_numpy()
    )
    abs_err = (f["fc"] - f["y"]).abs().sum()
    total_y = f["y"].abs().sum()
    overall = {
        "series": len(per_series),
        "points": len(f),
        "mase": per_series["mase"].mean(),
        "smape": per_series["smape"].mean(),
        "wape": abs_err / total_y if total_y else math.nan,
        "bias": float((f["fc"] - f["y"]).mean()),
        "bias_pct": 100 * float((f["fc"] - f["y"]).sum() / f["y"].sum()) if f["y"].sum() else math.nan,
    }
    for lv in levels:
        inside = (f["y"] >= f[f"fc-lo-{lv}"]) & (f["y"] <= f[f"fc-hi-{lv}"])
        overall[f"coverage_{lv}"] = float(inside.mean())
    overall["accuracy_pct"] = 100 * (1 - overall["wape"]) if not math.isnan(overall["wape"]) else math.nan
    return per_series, pd.DataFrame([overall])


def backtest(
    df: pd.DataFrame,
    horizon: int,
    levels: tuple[int, ...] | list[int] = (80, 95),
    freq: str = "D",
    n_windows: int = 3,
    step_size: int | None = None,
    **forecast_kwargs,
) -> Backtest:
    """Rolling-origin backtest of :func:`forecast` itself (model choice included).

    For each of ``n_windows`` cutoffs (the last at ``end - horizon``, earlier ones ``step_size`` periods
    apart, default ``horizon``), forecasts from the history up to the cutoff and scores the next
    ``horizon`` periods with :func:`accuracy`. Series too short for a window are left out of it.
    """
    levels = tuple(sorted({int(lv) for lv in levels}))
    step = int(step_size or horizon)
    frame = prepare(
        df,
        freq,
        duplicates=forecast_kwargs.get("duplicates", "sum"),
        align_end=forecast_kwargs.get("align_end", True),
    )
    frame["y"] = frame["y"].clip(lower=0.0)
    nanos = step_nanos(freq)
    end = frame["ds"].max()
    fcs = []
    for w in range(n_windows, 0, -1):
        back = horizon + (w - 1) * step
        if nanos is not None:
            cutoff = end - pd.Timedelta(int(back * nanos), "ns")
        else:
            cutoff = end - back * to_offset(freq)
        hist = frame[frame["ds"] <= cutoff]
        if hist.empty:
            continue
        fc = forecast(hist, horizon, levels, freq, **{**forecast_kwargs, "align_end": True})
        fc = fc.merge(frame[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="inner")
        fc["cutoff"] = cutoff
        fcs.append(fc)
    if not fcs:
        raise ValueError("no backtest window fits in the history; use fewer windows or a shorter horizon")
    forecasts = pd.concat(fcs, ignore_index=True)
    seasons = season_lengths(freq)
    per_series, overall = accuracy(forecasts, frame, levels, seasons[0] if seasons else 1)
    chosen = forecasts.groupby("unique_id", sort=False)["model"].agg(lambda s: s.mode().iloc[0])
    per_series.insert(1, "model", per_series["unique_id"].map(chosen))
    return Backtest(per_series, overall, forecasts)
