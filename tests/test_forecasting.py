"""python_models.forecasting on small hand-made series with known answers.

The forecasts of one panel are computed once per module (fitting ETS costs) and shared by the tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from python_models.forecasting import accuracy, backtest, forecast

WEEK = np.array([1.0, 1.02, 1.03, 1.01, 0.97, 0.74, 0.70])  # Monday..Sunday
START = pd.Timestamp("2024-01-01")  # a Monday
H = 14


def frame(uid: str, y, start: pd.Timestamp = START, freq: str = "D") -> pd.DataFrame:
    y = np.asarray(y, float)
    return pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, periods=len(y), freq=freq), "y": y})


def weekly(n: int, level: float = 100.0, noise: float = 0.03, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * WEEK[np.arange(n) % 7] * (1 + noise * rng.standard_normal(n))


def of(fc: pd.DataFrame, uid: str) -> pd.DataFrame:
    return fc[fc["unique_id"] == uid].reset_index(drop=True)


@pytest.fixture(scope="module")
def panel() -> dict[str, np.ndarray]:
    n = 168
    step = weekly(n, seed=1)
    step[-35:] *= 2.0  # the level doubled five weeks ago
    spike = weekly(n, seed=2)
    spike[100] *= 10  # one 10x day in the past
    credit = weekly(n, seed=3)
    credit[-10] = -400.0  # a credit posted ten days ago
    trend = (50 + 0.5 * np.arange(n)) * WEEK[np.arange(n) % 7]  # no noise: +$0.50 a day
    rng = np.random.default_rng(4)
    intermittent = np.where(rng.random(n) < 0.6, 0.0, rng.uniform(20, 40, n))
    declining = np.maximum(120 - 1.0 * np.arange(n), 0) + 1  # heading to 0
    return {
        "weekly": weekly(n, seed=0),
        "step": step,
        "spike": spike,
        "credit": credit,
        "trend": trend,
        "intermittent": intermittent,
        "declining": declining,
        "flat": np.full(n, 50.0),
        "zero": np.zeros(n),
        "three": np.array([1.0, 2.0, 3.0]),
    }


def panel_frame(panel: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = []
    for uid, y in panel.items():
        # every series ends on the same day
        parts.append(frame(uid, y, start=START + pd.Timedelta(days=168 - len(y))))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def fc(panel) -> pd.DataFrame:
    return forecast(panel_frame(panel), H, (80, 95), "D", n_jobs=1)


def test_one_row_per_series_and_step_with_the_documented_columns(fc, panel):
    assert list(fc.columns) == [
        "unique_id",
        "ds",
        "mean",
        "lo_80",
        "hi_80",
        "lo_95",
        "hi_95",
        "model",
        "route",
        "cv_mase",
    ]
    assert len(fc) == H * len(panel)
    last = START + pd.Timedelta(days=167)
    for uid in panel:
        f = of(fc, uid)
        assert f["ds"].tolist() == list(pd.date_range(last + pd.Timedelta(days=1), periods=H)), uid
        assert f["model"].nunique() == 1


def test_never_negative_and_intervals_ordered(fc):
    cols = ["lo_95", "lo_80", "mean", "hi_80", "hi_95"]
    assert not fc[cols].isna().any().any()
    assert (fc[cols] >= 0).all().all()
    v = fc[cols].to_numpy()
    assert (np.diff(v, axis=1) >= 0).all()


def test_declining_series_is_clipped_at_zero(fc):
    f = of(fc, "declining")
    assert f["mean"].iloc[-1] < 5  # it keeps declining ...
    assert (f["lo_95"] == 0).any()  # ... and the interval would cross 0 without the clip


def test_weekly_series_keeps_its_profile(fc):
    f = of(fc, "weekly")
    assert f["route"].iloc[0] == "regular"
    expected = 100 * WEEK[(168 + np.arange(H)) % 7]
    np.testing.assert_allclose(f["mean"], expected, rtol=0.08)
    assert np.corrcoef(f["mean"], expected)[0, 1] > 0.9


def test_trend_is_extrapolated(fc):
    f = of(fc, "trend")
    t = 168 + np.arange(H)
    np.testing.assert_allclose(f["mean"], (50 + 0.5 * t) * WEEK[t % 7], rtol=0.03)


def test_step_follows_the_new_level(fc):
    f = of(fc, "step")
    expected = 200 * WEEK[(168 + np.arange(H)) % 7]
    np.testing.assert_allclose(f["mean"].sum(), expected.sum(), rtol=0.1)


def test_a_past_spike_does_not_lift_the_forecast(fc):
    f = of(fc, "spike")
    expected = 100 * WEEK[(168 + np.arange(H)) % 7]
    np.testing.assert_allclose(f["mean"].sum(), expected.sum(), rtol=0.1)


def test_negative_credit_day_counts_as_zero_spend(fc, panel):
    f = of(fc, "credit")
    y = panel["credit"].copy()
    y[-10] = 0.0
    again = forecast(frame("credit", y), H, (80, 95), "D", n_jobs=1)
    pd.testing.assert_frame_equal(f, again)


def test_flat_zero_and_three_point_series_get_the_fallback(fc):
    flat = of(fc, "flat")
    assert flat["route"].iloc[0] == "fallback"
    assert (flat["mean"] == 50).all() and (flat["lo_95"] == 50).all() and (flat["hi_95"] == 50).all()
    zero = of(fc, "zero")
    assert (zero[["mean", "lo_95", "hi_95"]] == 0).all().all()
    three = of(fc, "three")
    assert three["model"].iloc[0] == "Naive" and (three["mean"] == 3).all()


def test_intermittent_series_is_routed_to_intermittent_models(fc, panel):
    f = of(fc, "intermittent")
    assert f["route"].iloc[0] == "intermittent"
    assert f["model"].iloc[0] in {"CrostonOptimized", "SeasonalNaive", "Naive", "HistoricAverage"}
    y = panel["intermittent"]
    assert f["mean"].mean() == pytest.approx(y.mean(), rel=0.5)  # a rate, not the zero median


def test_missing_days_are_zero_and_duplicates_summed(panel):
    y = panel["weekly"]
    df = frame("w", y)
    holes = df.drop(index=[150, 151, 160])
    zeros = df.assign(y=np.where(np.isin(np.arange(len(y)), [150, 151, 160]), 0.0, y))
    a = forecast(holes, H, n_jobs=1)
    pd.testing.assert_frame_equal(a, forecast(zeros, H, n_jobs=1))
    split = pd.concat([zeros.assign(y=zeros["y"] * 0.25), zeros.assign(y=zeros["y"] * 0.75)])
    pd.testing.assert_frame_equal(a, forecast(split, H, n_jobs=1))
    with pytest.raises(ValueError, match="share a"):
        forecast(split, H, duplicates="raise")


def test_series_ending_early_are_extended_with_zeros():
    a = frame("a", weekly(120))
    b = frame("b", weekly(100, seed=1))  # no cost in its last 20 days
    fc = forecast(pd.concat([a, b]), 7, n_jobs=1)
    assert fc.groupby("unique_id")["ds"].min().nunique() == 1
    assert of(fc, "b")["mean"].sum() < 0.5 * of(fc, "a")["mean"].sum()


def test_models_restriction_gives_the_seasonal_naive_answer():
    y = np.tile([10.0, 20, 30, 40, 50, 60, 70], 10) + np.repeat(np.arange(10) * 0.0, 7)
    y = y * (1 + 0.01 * np.random.default_rng(0).standard_normal(70))
    fc = forecast(frame("s", y), 10, models=["SeasonalNaive"], n_jobs=1)
    assert (fc["model"] == "SeasonalNaive").all()
    np.testing.assert_allclose(fc["mean"], np.concatenate([y[-7:], y[-7:-4]]))


def test_input_is_not_mutated_and_bad_input_is_rejected(panel):
    df = frame("w", panel["weekly"])
    before = df.copy()
    forecast(df, 3, n_jobs=1, models=["SeasonalNaive"])
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(ValueError, match="NaN"):
        forecast(df.assign(y=np.nan), 3)
    with pytest.raises(ValueError, match="missing column"):
        forecast(df.drop(columns="y"), 3)
    with pytest.raises(ValueError, match="unknown model"):
        forecast(df, 3, models=["Prophet"])
    with pytest.raises(ValueError, match="horizon"):
        forecast(df, 0)


def test_parallel_workers_give_the_same_forecasts(panel):
    df = panel_frame({k: panel[k] for k in ("weekly", "trend", "flat", "zero", "three")})
    one = forecast(df, 7, n_jobs=1, models=["AutoTheta", "SeasonalNaive"])
    two = forecast(df, 7, n_jobs=2, models=["AutoTheta", "SeasonalNaive"])
    pd.testing.assert_frame_equal(one, two)


# --- sub-daily --------------------------------------------------------------------------------------


def test_hourly_series_keeps_the_daily_shape():
    hours = 24 * 21
    t = np.arange(hours + 48)
    shape = 10 + 6 * (t % 24 >= 8) * (t % 24 < 20)  # business hours cost more
    rng = np.random.default_rng(5)
    y = shape * (1 + 0.03 * rng.standard_normal(len(t)))
    fc = forecast(frame("h", y[:hours], freq="h"), 48, freq="h", n_jobs=1)
    assert fc["ds"].iloc[0] == START + pd.Timedelta(hours=hours)
    assert (fc["ds"].diff().dropna() == pd.Timedelta(hours=1)).all()
    assert fc["model"].iloc[0] in {"MSTL", "AutoETS", "AutoTheta", "SeasonalNaive"}
    np.testing.assert_allclose(fc["mean"], shape[hours:], rtol=0.1)


def test_five_minute_series_keeps_the_daily_shape():
    n = 288 * 5
    t = np.arange(n + 288)
    shape = 5 + 2 * np.sin(2 * np.pi * t / 288)
    rng = np.random.default_rng(6)
    y = shape * (1 + 0.02 * rng.standard_normal(len(t)))
    fc = forecast(frame("m", y[:n], freq="5min"), 288, freq="5min", n_jobs=1)
    assert (fc["ds"].diff().dropna() == pd.Timedelta(minutes=5)).all()
    assert fc["route"].iloc[0] == "regular"
    np.testing.assert_allclose(fc["mean"], shape[n:], rtol=0.1)


# --- intervals and accuracy -------------------------------------------------------------------------


def test_interval_coverage_on_known_noise():
    """40 series of a weekly profile plus Gaussian noise of known size: the intervals cover about their
    level of 8 weeks of held-out points (40 x 28 = 1,120 points; +/- 5 points of coverage)."""
    rng = np.random.default_rng(9)
    n, h = 196, 28
    t = np.arange(n + h)
    parts, truth = [], []
    for i in range(40):
        y = 100 * WEEK[t % 7] + rng.normal(0, 8, len(t))
        parts.append(frame(f"s{i}", y[:n]))
        truth.append(frame(f"s{i}", y)[n:])
    fc = forecast(pd.concat(parts), h, (80, 95), n_jobs=2)
    m = fc.merge(pd.concat(truth), on=["unique_id", "ds"])
    cov80 = ((m["y"] >= m["lo_80"]) & (m["y"] <= m["hi_80"])).mean()
    cov95 = ((m["y"] >= m["lo_95"]) & (m["y"] <= m["hi_95"])).mean()
    assert 0.75 <= cov80 <= 0.87, cov80
    assert 0.90 <= cov95 <= 0.99, cov95


def test_accuracy_metrics_by_hand():
    history = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range(START, periods=14),
            "y": np.tile([10.0, 12, 14, 16, 18, 20, 22], 2) + np.repeat([0.0, 7.0], 7),
        }
    )
    # seasonal naive in-sample MAE (lag 7) = 7 exactly
    fcs = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range(START + pd.Timedelta(days=14), periods=4),
            "cutoff": START + pd.Timedelta(days=13),
            "y": [20.0, 20, 20, 20],
            "mean": [22.0, 18, 27, 20],
            "lo_80": [21.0, 10, 10, 10],
            "hi_80": [23.0, 30, 30, 30],
            "lo_95": [19.0, 5, 5, 5],
            "hi_95": [25.0, 35, 35, 35],
        }
    )
    per, overall = accuracy(fcs, history, (80, 95), season_length=7)
    row = per.iloc[0]
    assert row["mase"] == pytest.approx((2 + 2 + 7 + 0) / 4 / 7)
    assert row["wape"] == pytest.approx(11 / 80)
    assert row["bias"] == pytest.approx((2 - 2 + 7 + 0) / 4)
    assert row["bias_pct"] == pytest.approx(100 * 7 / 80)
    assert row["smape"] == pytest.approx(np.mean([2 / 42, 2 / 38, 7 / 47, 0]))
    assert row["coverage_80"] == pytest.approx(0.75) and row["coverage_95"] == pytest.approx(1.0)
    assert overall.loc[0, "accuracy_pct"] == pytest.approx(100 * (1 - 11 / 80))


def test_backtest_scores_every_window(panel):
    df = panel_frame({k: panel[k] for k in ("weekly", "trend", "step")})
    bt = backtest(df, 14, n_windows=2, n_jobs=1, models=["SeasonalNaive"])
    assert sorted(bt.forecasts["cutoff"].unique()) == [
        START + pd.Timedelta(days=167 - 28),
        START + pd.Timedelta(days=167 - 14),
    ]
    assert len(bt.forecasts) == 3 * 2 * 14
    assert set(bt.per_series["unique_id"]) == {"weekly", "trend", "step"}
    for col in ("mase", "smape", "wape", "bias", "coverage_80", "coverage_95", "model"):
        assert col in bt.per_series.columns
    # Seasonal naive on a noiseless weekly-multiplicative trend: the error is the trend over a week.
    trend = bt.per_series.set_index("unique_id").loc["trend"]
    assert trend["mase"] == pytest.approx(1.5, rel=0.1)  # errors of one and two weeks of trend vs. one
    assert bt.overall.loc[0, "series"] == 3


# A team's daily cost in a generated quarter: month-start fees, then its usage halved in mid February. On the
# first 59 days, multiplicative ETS fitted it with intervals reaching 3e7 (1e43 at a longer horizon), which
# overflowed the mart's decimals and failed the build.
SPIKY_TEAM = [
    250.4, 37.65, 30.29, 27.01, 35.54, 35.64, 35.91, 35.92, 35.34, 26.37, 29.26, 36.04, 36.03, 35.98, 34.63, 38.04,
    29.95, 30.07, 39.65, 33.25, 37.87, 38.7, 35.32, 29.05, 28.13, 35.56, 35.17, 38.67, 34.12, 32.85, 29.87, 303.01,
    72.96, 34.33, 35.43, 34.0, 32.18, 27.48, 26.77, 35.04, 34.3, 33.37, 35.31, 31.11, 75.89, 78.79, 14.15, 14.04,
    14.25, 14.39, 13.99, 13.96, 13.88, 14.49, 14.57, 14.32, 14.09, 14.3, 13.84,
]  # fmt: skip


def test_an_exploding_fit_is_capped_at_a_plausible_range():
    from python_models.forecasting import CEILING_FACTOR

    fc = forecast(frame("payments", SPIKY_TEAM, start=pd.Timestamp("2026-01-01")), horizon=100)
    ceiling = CEILING_FACTOR * max(SPIKY_TEAM)
    assert fc["hi_95"].max() <= ceiling
    assert (fc["mean"] <= ceiling).all() and (fc["mean"] >= 0).all()
