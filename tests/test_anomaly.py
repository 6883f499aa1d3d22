"""python_models.anomaly on small hand-made series with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from python_models.anomaly import episodes, rolling_zscore, root_causes, score

WEEK = np.array([1.0, 1.02, 1.03, 1.01, 0.97, 0.74, 0.70])  # Monday..Sunday
START = pd.Timestamp("2024-01-01")  # a Monday


def weekly(n: int, level: float = 100.0, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * WEEK[np.arange(n) % 7] * (1 + noise * rng.standard_normal(n))


def frame(uid: str, y, start: pd.Timestamp = START, freq: str = "D") -> pd.DataFrame:
    y = np.asarray(y, float)
    return pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, periods=len(y), freq=freq), "y": y})


def of(scored: pd.DataFrame, uid: str) -> pd.DataFrame:
    return scored[scored["unique_id"] == uid].reset_index(drop=True)


@pytest.fixture(scope="module")
def cases() -> dict[str, np.ndarray]:
    n = 120
    spike = weekly(n, seed=1)
    spike[70] *= 4  # a Saturday... day 70 is a Monday; 4x its usual cost
    step = weekly(n, seed=2)
    step[80:] *= 1.6  # lasting +60% from day 80
    runaway = weekly(n, seed=3)
    runaway[90:98] *= 1.25 ** np.arange(1, 9)  # +25% a day for 8 days, then fixed
    credit = weekly(n, seed=4)
    credit[60] = -500.0  # a credit posted on one day
    early = weekly(n, seed=5)
    early[10] *= 5  # a spike before the detector has enough history
    return {
        "spike": spike,
        "step": step,
        "runaway": runaway,
        "credit": credit,
        "early": early,
        "flat": np.full(n, 50.0),
        "zero": np.zeros(n),
        "three": np.array([1.0, 2.0, 3.0]),
        "noisy": weekly(n, noise=0.05, seed=6),
    }


@pytest.fixture(scope="module")
def scored(cases) -> pd.DataFrame:
    df = pd.concat([frame(k, v) for k, v in cases.items()], ignore_index=True)
    return score(df, "D", min_abs_impact=5.0, min_pct_impact=20.0)


def test_output_columns_and_one_row_per_point(scored, cases):
    assert list(scored.columns) == [
        "unique_id",
        "ds",
        "y",
        "expected",
        "lower",
        "upper",
        "score",
        "is_anomaly",
        "impact",
        "impact_pct",
    ]
    assert len(scored) == sum(len(v) for v in cases.values())
    ok = scored["expected"].notna()
    np.testing.assert_allclose(scored.loc[ok, "impact"], scored.loc[ok, "y"] - scored.loc[ok, "expected"])
    assert (scored.loc[ok, "lower"] <= scored.loc[ok, "expected"]).all()
    assert (scored.loc[ok, "upper"] >= scored.loc[ok, "expected"]).all()


def test_spike_is_the_only_anomaly_with_its_impact(scored, cases):
    s = of(scored, "spike")
    assert s.index[s["is_anomaly"]].tolist() == [70]
    base = cases["spike"][70] / 4
    assert s.loc[70, "impact"] == pytest.approx(3 * base, rel=0.08)
    assert s.loc[70, "impact_pct"] == pytest.approx(300, rel=0.08)
    assert s.loc[70, "score"] > 10
    # Robust: the spike does not lift the next weeks' expected value of that weekday.
    assert s.loc[77, "expected"] == pytest.approx(base, rel=0.05)
    assert not s.loc[71:, "is_anomaly"].any()


def test_level_shift_alerts_once_then_the_new_level_is_normal(scored, cases):
    s = of(scored, "step")
    flagged = s.index[s["is_anomaly"]].tolist()
    assert flagged and flagged[0] == 80
    assert flagged == list(range(80, 80 + len(flagged))) and len(flagged) <= 4
    assert not s.loc[85:, "is_anomaly"].any()
    # After re-anchoring, the expected value follows the new level (1.6x the old weekly profile).
    later = s.loc[90:]
    ratio = later["expected"] / (100 * WEEK[later.index % 7])
    assert ratio.median() == pytest.approx(1.6, rel=0.06)
    assert len(episodes(s)) == 1


def test_runaway_keeps_alerting_while_it_grows(scored):
    s = of(scored, "runaway")
    flagged = set(s.index[s["is_anomaly"]])
    assert set(range(92, 98)) <= flagged  # from the third day of growth to the last
    assert not (flagged - set(range(90, 99)))  # and nothing once it is fixed
    ep = episodes(s)
    assert len(ep) == 1 and ep.loc[0, "direction"] == "up"


def test_negative_credit_day_is_a_down_anomaly_and_leaves_no_trace(scored, cases):
    s = of(scored, "credit")
    assert s.index[s["is_anomaly"]].tolist() == [60]
    assert s.loc[60, "impact"] == pytest.approx(-500 - 100 * WEEK[60 % 7], rel=0.05)
    assert s.loc[60, "score"] < 0


def test_quiet_without_enough_history(scored):
    s = of(scored, "early")
    assert not s["is_anomaly"].any()  # the 5x day 10 comes before 21 days of history
    t = of(scored, "three")
    assert len(t) == 3 and not t["is_anomaly"].any()


def test_flat_zero_and_noisy_series_are_quiet(scored):
    for uid in ("flat", "zero", "noisy"):
        assert not of(scored, uid)["is_anomaly"].any(), uid
    z = of(scored, "zero")
    assert (z["expected"].dropna() == 0).all() and (z["impact"].dropna() == 0).all()
    assert z["impact_pct"].isna().all()  # no percentage of a zero expected value
    f = of(scored, "flat")
    assert (f["expected"].dropna() == 50).all()


def test_flat_series_jump_alerts_only_above_both_thresholds():
    y = np.full(60, 50.0)
    y[40] = 80.0  # +30 (+60%): above both thresholds
    y[50] = 53.0  # +3 (+6%): below both
    small = np.full(60, 1.0)
    small[40] = 3.0  # +200% but only +2 in money
    big = np.full(60, 10_000.0)
    big[40] = 11_000.0  # +1,000 but only +10%
    df = pd.concat([frame("flat", y), frame("small", small), frame("big", big)])
    s = score(df, "D", min_abs_impact=5.0, min_pct_impact=20.0)
    assert s[s["is_anomaly"]][["unique_id", "ds"]].values.tolist() == [
        ["flat", START + pd.Timedelta(days=40)]
    ]
    # The big series' +10% is a high score: only the percentage threshold keeps it quiet.
    assert of(s, "big").loc[40, "score"] > 4


def test_missing_days_are_zero_cost():
    y = weekly(60)
    df = frame("a", y)
    gap = df.drop(index=[45])  # no line at all on day 45
    s = score(gap, "D", min_abs_impact=5.0)
    assert len(s) == 60 and s.loc[45, "y"] == 0.0
    assert s.loc[45, "is_anomaly"] and s.loc[45, "impact"] < 0
    same = score(df.assign(y=np.where(np.arange(60) == 45, 0.0, y)), "D", min_abs_impact=5.0)
    pd.testing.assert_frame_equal(s, same)


def test_duplicates_are_summed_or_rejected():
    df = frame("a", weekly(40))
    doubled = pd.concat([df, df.assign(y=0.0)]).sample(frac=1, random_state=0)
    pd.testing.assert_frame_equal(score(doubled), score(df))
    with pytest.raises(ValueError, match="share a"):
        score(doubled, duplicates="raise")
    with pytest.raises(ValueError, match="NaN"):
        score(df.assign(y=np.nan))


def test_scoring_is_causal_and_does_not_mutate_input(cases):
    df = pd.concat([frame("step", cases["step"]), frame("spike", cases["spike"])], ignore_index=True)
    before = df.copy()
    full = score(df)
    pd.testing.assert_frame_equal(df, before)
    cut = score(df[df["ds"] < START + pd.Timedelta(days=75)])
    merged = full.merge(cut, on=["unique_id", "ds"], suffixes=("", "_cut"))
    np.testing.assert_allclose(merged["expected"], merged["expected_cut"], equal_nan=True)
    assert (merged["is_anomaly"] == merged["is_anomaly_cut"]).all()


def test_hourly_series_uses_the_daily_season():
    hours = 24 * 28
    t = np.arange(hours)
    shape = 1 + 0.8 * (t % 24 < 12)  # the busy half of the day costs 1.8x
    rng = np.random.default_rng(7)
    y = 10 * shape * (1 + 0.02 * rng.standard_normal(hours))
    y[600] *= 3
    s = score(frame("h", y, freq="h"), "h", min_abs_impact=1.0)
    assert s.index[s["is_anomaly"]].tolist() == [600]
    # The daily peaks are expected, not anomalous: the expected value follows the hour of day.
    assert np.corrcoef(s["expected"][200:], shape[200:])[0, 1] > 0.95


def test_five_minute_series():
    n = 288 * 6
    t = np.arange(n)
    shape = 2 + np.sin(2 * np.pi * t / 288)
    rng = np.random.default_rng(8)
    y = shape * (1 + 0.02 * rng.standard_normal(n))
    y[1500:1503] += 5
    s = score(frame("m", y, freq="5min"), "5min", min_abs_impact=1.0)
    assert s.index[s["is_anomaly"]].tolist() == [1500, 1501, 1502]
    assert s.loc[: 3 * 288 - 1, "is_anomaly"].sum() == 0


def test_rolling_zscore_baseline_flags_the_spike():
    y = weekly(80, seed=1)
    y[60] *= 4
    z = rolling_zscore(frame("a", y), "D", min_abs_impact=5.0)
    assert z.loc[60, "is_anomaly"]
    assert z.loc[60, "expected"] == pytest.approx(np.mean(y[32:60]))


# --- episodes ----------------------------------------------------------------------------------------


def scored_by_hand(flags: list[int], impacts: list[float]) -> pd.DataFrame:
    n = len(flags)
    y = np.full(n, 100.0) + np.asarray(impacts, float)
    return pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range(START, periods=n),
            "y": y,
            "expected": np.full(n, 100.0),
            "score": np.asarray(impacts, float) / 5,
            "is_anomaly": np.asarray(flags, bool),
            "impact": np.asarray(impacts, float),
        }
    )


def test_episodes_merge_across_a_gap_and_split_on_direction():
    flags = [0, 1, 0, 1, 1, 0, 0, 1, 1, 0]
    impacts = [0, 50, 5, 40, 70, 0, 0, -30, -20, 0]
    ep = episodes(scored_by_hand(flags, impacts), max_gap=1)
    assert ep["start"].dt.day.tolist() == [2, 8]
    assert ep["end"].dt.day.tolist() == [5, 9]
    assert ep["points"].tolist() == [3, 2]
    assert ep["total_impact"].tolist() == [165.0, -50.0]  # the gap day's +5 counts
    assert ep["peak_impact"].tolist() == [70.0, -30.0]
    assert ep["peak_ds"].dt.day.tolist() == [5, 8]
    assert ep["direction"].tolist() == ["up", "down"]
    assert ep["impact_pct"].tolist() == pytest.approx([165 / 400 * 100, -25.0])
    strict = episodes(scored_by_hand(flags, impacts), max_gap=0)
    assert len(strict) == 3


def test_episode_severity_tiers():
    def sev(impact: float, expected: float = 1e6, score_: float = 5.0) -> str:
        s = scored_by_hand([1], [impact])
        s["expected"] = expected
        s["score"] = score_
        return episodes(s)["severity"].iloc[0]

    assert [sev(50), sev(500), sev(5_000), sev(50_000)] == ["low", "medium", "high", "critical"]
    assert sev(50, expected=40) == "medium"  # cost more than doubled: one level up
    assert sev(50, score_=15) == "medium"  # an extreme score: one level up
    assert sev(50_000, expected=10) == "critical"


def test_no_anomaly_gives_empty_episodes():
    ep = episodes(scored_by_hand([0, 0, 0], [0, 1, 2]))
    assert ep.empty and "severity" in ep.columns


# --- root causes -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spike_detail() -> pd.DataFrame:
    """Four resources in two regions; on day 50, resource r3 costs 10x its usual $20."""
    rows = []
    rng = np.random.default_rng(11)
    base = {"r1": 100.0, "r2": 60.0, "r3": 20.0, "r4": 40.0}
    region = {"r1": "us-east-1", "r2": "eu-west-1", "r3": "us-east-1", "r4": "eu-west-1"}
    for res, level in base.items():
        y = weekly(70, level=level, noise=0.02, seed=int(rng.integers(1000)))
        if res == "r3":
            y[50] *= 10
        for i, v in enumerate(y):
            rows.append((START + pd.Timedelta(days=i), res, region[res], "svc", v))
    return pd.DataFrame(rows, columns=["ds", "resource", "region", "service", "y"])


def test_root_cause_of_a_spike_is_its_resource(spike_detail):
    series = spike_detail.groupby("ds", as_index=False)["y"].sum().assign(unique_id="acct")
    ep = episodes(score(series, min_abs_impact=5.0))
    assert len(ep) == 1 and ep.loc[0, "start"] == START + pd.Timedelta(days=50)
    rc = root_causes(ep.iloc[0], spike_detail, ["resource", "region", "service"], top_n=3)
    res = rc[rc["dimension"] == "resource"]
    assert res["value"].tolist()[0] == "r3" and res["rank"].tolist() == [1, 2, 3]
    top = res.iloc[0]
    assert top["share"] == pytest.approx(1.0, abs=0.1)
    assert top["contribution"] == pytest.approx(
        9 * spike_detail.query("resource == 'r3'")["y"].iloc[50] / 10, rel=0.05
    )
    assert (res["share"].iloc[1:].abs() < 0.1).all()
    reg = rc[rc["dimension"] == "region"]
    assert reg["value"].tolist()[0] == "us-east-1"
    assert sorted(rc["overall_rank"]) == list(range(1, len(rc) + 1))
    assert set(rc.columns) >= {
        "unique_id",
        "start",
        "end",
        "dimension",
        "value",
        "actual",
        "expected",
        "contribution",
        "share",
        "rank",
        "overall_rank",
    }


def test_root_cause_of_a_drop_ranks_the_largest_decrease_first(spike_detail):
    detail = spike_detail.copy()
    gone = (detail["resource"] == "r1") & (detail["ds"] >= START + pd.Timedelta(days=60))
    detail.loc[gone, "y"] = 0.0  # r1 switched off from day 60
    series = detail.groupby("ds", as_index=False)["y"].sum().assign(unique_id="acct")
    ep = episodes(score(series, min_abs_impact=5.0))
    down = ep[ep["direction"] == "down"].iloc[0]
    rc = root_causes(down, detail, ["resource"])
    assert rc["value"].iloc[0] == "r1" and rc["contribution"].iloc[0] < 0
    assert rc["share"].iloc[0] == pytest.approx(1.0, abs=0.15)


def test_root_causes_for_several_series_need_unique_id(spike_detail):
    a = spike_detail.assign(unique_id="a")
    b = spike_detail.assign(unique_id="b", resource=spike_detail["resource"] + "b")
    detail = pd.concat([a, b])
    series = detail.groupby(["unique_id", "ds"], as_index=False)["y"].sum()
    ep = episodes(score(series, min_abs_impact=5.0))
    rc = root_causes(ep, detail, ["resource"], top_n=1)
    assert dict(zip(rc["unique_id"], rc["value"], strict=True)) == {"a": "r3", "b": "r3b"}
    with pytest.raises(ValueError, match="unique_id"):
        root_causes(ep, detail.drop(columns="unique_id"), ["resource"])
