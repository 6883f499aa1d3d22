"""Cost anomalies: robust seasonal scoring, episodes with dollar impact, and root causes.

Input is the long format of :mod:`python_models.series` (``unique_id``, ``ds``, ``y``; ``y`` in money units,
e.g. dollars of cost per period). Missing periods count as 0 cost; duplicates are summed. Everything is
float (these are estimates); the caller's frames are never modified.

**Expected value.** For each point, the median of the same-phase values of the previous ``n_seasons``
seasons (daily data: the same weekday of the previous weeks; sub-daily data: the same time of day of the
previous days), so a point is compared only with its past (causal) and a past spike is one value out of
``n_seasons`` (the median ignores it).

**Band and score.** ``sigma`` is 1.4826 times the median absolute residual (actual - expected) of the
previous ``scale_window`` points (a robust standard deviation that anomalies do not inflate), floored at
``rel_floor`` of the expected value and at ``min_scale``. ``score = (actual - expected) / sigma``; the band
is ``expected +/- z * sigma``.

**Alert.** A point is anomalous when ``|score| >= z``, ``|impact| >= min_abs_impact`` and
``|impact_pct| >= min_pct_impact``, and the series has at least ``min_history`` points before it.

**Level shifts re-anchor.** When ``reanchor_after`` consecutive points are out of the band in the same
direction (``|score| >= z``; the impact thresholds decide alerts, not whether the level changed)
and their excess, relative to the expected value, is steady (its spread is at most ``stability`` times its
median: a level shift, not a runaway that keeps growing), a new regime starts at the first of them: later
points are compared with the history lifted by the shift (the median excess of those points), so a lasting
change alerts once and then the new level is normal. A runaway keeps alerting while it grows. Shifts are
taken back from the first point that is normal for the level before them but anomalous for the shifted
level (a spike of exactly ``reanchor_after`` points, or a runaway that stopped): no alert for the return.

Units: ``expected``, ``lower``, ``upper``, ``impact`` and the episode impacts are in the units of ``y``;
``impact_pct`` is a percentage of ``expected`` (NaN when ``expected <= 0``: new spend from nothing is then
judged by its absolute impact only); ``score`` is in robust standard deviations.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from python_models.series import DAY_NS, prepare, step_nanos

MAD_TO_SIGMA = 1.4826
WINSOR = 2.5
# E[min(|Z|, 2.5)^2] for a standard normal Z: the winsorized mean square of unit noise.
WINSOR_MS = 0.97756
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Settings:
    """Resolved scoring parameters (see :func:`score`)."""

    season_length: int
    n_seasons: int
    scale_window: int
    min_history: int
    z: float
    min_abs_impact: float
    min_pct_impact: float
    reanchor_after: int
    stability: float
    rel_floor: float
    min_scale: float


def _defaults(freq: str) -> tuple[int, int, int]:
    """(season_length, n_seasons, scale_window) for a frequency: weekly season for daily data, daily
    season for sub-daily data, no season otherwise."""
    nanos = step_nanos(freq)
    if nanos == DAY_NS:
        return 7, 6, 56
    if nanos is not None and nanos < DAY_NS and DAY_NS % nanos == 0:
        per_day = DAY_NS // nanos
        return per_day, 7, 3 * per_day
    return 1, 4, 12


def settings(
    freq: str = "D",
    *,
    season_length: int | None = None,
    n_seasons: int | None = None,
    scale_window: int | None = None,
    min_history: int | None = None,
    z: float = 5.0,
    min_abs_impact: float = 5.0,
    min_pct_impact: float = 20.0,
    reanchor_after: int = 3,
    stability: float = 0.5,
    rel_floor: float = 0.02,
    min_scale: float = 0.01,
) -> Settings:
    m, k, w = _defaults(freq)
    m = int(season_length or m)
    k = int(n_seasons or k)
    w = int(scale_window or w)
    if min_history is None:
        min_history = max(3 * m, w // 4 + 2 * m) if m > 1 else max(8, w // 2)
    if m < 1 or k < 1 or w < 3 or reanchor_after < 1:
        raise ValueError("season_length, n_seasons, reanchor_after must be >= 1 and scale_window >= 3")
    if z <= 0 or min_abs_impact < 0 or min_pct_impact < 0:
        raise ValueError("z must be positive and the impact thresholds non-negative")
    return Settings(
        m,
        k,
        w,
        int(min_history),
        float(z),
        float(min_abs_impact),
        float(min_pct_impact),
        int(reanchor_after),
        float(stability),
        float(rel_floor),
        float(min_scale),
    )


# --- the vectorized engine -------------------------------------------------------------------------


def _positions(sid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position within series, index of the series' first row) for rows sorted by series."""
    n = len(sid)
    first = np.ones(n, bool)
    first[1:] = sid[1:] != sid[:-1]
    start_idx = np.flatnonzero(first)
    starts = np.repeat(start_idx, np.diff(np.append(start_idx, n)))
    return np.arange(n) - starts, starts


def _series_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each series."""
    c = np.cumsum(values)
    before = np.where(starts > 0, c[np.maximum(starts - 1, 0)], 0.0)
    return c - before


def _lag_median(z: np.ndarray, pos: np.ndarray, m: int, k: int) -> np.ndarray:
    """Median of z[t - j*m] for j = 1..k that lie in the same series (NaN when none)."""
    n = len(z)
    lags = np.full((n, k), np.nan)
    idx = np.arange(n)
    for j in range(1, k + 1):
        ok = pos >= j * m
        lags[ok, j - 1] = z[idx[ok] - j * m]
    full = pos >= k * m
    out = np.empty(n)
    out[full] = np.median(lags[full], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no history yet
        out[~full] = np.nanmedian(lags[~full], axis=1)
    return out


def _trailing(
    values: np.ndarray, sid_codes: np.ndarray, window: int, min_periods: int, how: str = "median"
) -> np.ndarray:
    """Median (or mean) of the previous ``window`` non-NaN values of the same series, excluding the
    current one: one pandas rolling pass over the series laid end to end with ``window`` NaNs between."""
    n = len(values)
    n_series = int(sid_codes[-1]) + 1 if n else 0
    padded = np.full(n + (n_series + 1) * window, np.nan)
    where = np.arange(n) + (sid_codes + 1) * window
    padded[where] = values
    rolling = pd.Series(padded).rolling(window, min_periods=min_periods)
    rolled = (rolling.median() if how == "median" else rolling.mean()).to_numpy()
    return rolled[where - 1]


def _robust_scale(resid: np.ndarray, sid: np.ndarray, s: Settings) -> np.ndarray:
    """Trailing robust standard deviation of the residuals.

    First 1.4826 x the median absolute residual of the previous ``scale_window`` points (robust, but
    noisy: a median of 28 values wanders by 20%, enough to double the false alarms at z = 4); then the
    root mean square of the residuals winsorized at ``WINSOR`` of that first scale, corrected for the
    winsorizing, over the same window (as robust: an anomaly weighs at most ``WINSOR`` sigmas; and about
    twice as efficient)."""
    absr = np.abs(resid)
    min_periods = max(3, s.scale_window // 4)
    sigma0 = MAD_TO_SIGMA * _trailing(absr, sid, s.scale_window, min_periods)
    clipped = np.fmin(absr, WINSOR * sigma0)
    # Winsorizing at the point's own trailing scale keeps it causal.
    ms = _trailing(clipped**2, sid, s.scale_window, min_periods, how="mean")
    return np.sqrt(ms / WINSOR_MS)


def _run_length(flag: np.ndarray, sign: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Number of consecutive flagged same-sign points ending at each point (0 when not flagged)."""
    key = np.where(flag, sign, 0).astype(np.int8)
    n = len(key)
    brk = np.ones(n, bool)
    brk[1:] = (key[1:] != key[:-1]) | (pos[1:] == 0)
    grp_start = np.maximum.accumulate(np.where(brk, np.arange(n), 0))
    return np.where(flag, np.arange(n) - grp_start + 1, 0)


def _pass(
    y: np.ndarray,
    sid: np.ndarray,
    pos: np.ndarray,
    a_own: np.ndarray,
    a_eff: np.ndarray,
    s: Settings,
) -> dict[str, np.ndarray]:
    """One scoring pass over (the tails of) series given the level shifts found so far.

    ``pos`` is each row's position in its whole series (for ``min_history``); the rows may start later
    than the series does: the first ``n_seasons * season_length + scale_window`` rows of each tail are then
    only history for the others. ``a_own``/``a_eff``: the cumulative shifts of each row as history and as
    target."""
    local, _ = _positions(sid)
    # History is brought to each point's regime: z = y - (shifts up to that history point), expected =
    # median of z's lags + (shifts in force for the point).
    expected = _lag_median(y - a_own, local, s.season_length, s.n_seasons) + a_eff
    resid = y - expected
    sigma = _robust_scale(resid, sid, s)
    sigma = np.fmax(sigma, np.fmax(s.rel_floor * np.abs(expected), s.min_scale))
    with np.errstate(invalid="ignore", divide="ignore"):
        score = resid / sigma
        pct = np.where(expected > 0, 100.0 * resid / np.where(expected > 0, expected, 1.0), np.nan)
    # Out of the band: the statistics of a level change (re-anchoring reads it); an alert also needs the
    # impact thresholds.
    out = (pos >= s.min_history) & np.isfinite(score) & (np.abs(score) >= s.z)
    flag = out & (np.abs(resid) >= s.min_abs_impact) & (np.isnan(pct) | (np.abs(pct) >= s.min_pct_impact))
    return {
        "expected": expected,
        "resid": resid,
        "sigma": sigma,
        "score": score,
        "pct": pct,
        "flag": flag,
        "out": out,
    }


def _first_per_series(idx: np.ndarray, sid: np.ndarray) -> np.ndarray:
    """Positions (into ``idx``, sorted rows) of the first row of each series."""
    first = np.ones(len(idx), bool)
    first[1:] = sid[idx][1:] != sid[idx][:-1]
    return np.flatnonzero(first)


def _new_shifts(
    r: dict[str, np.ndarray], sid: np.ndarray, pos: np.ndarray, fresh_from: np.ndarray, s: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """Per series, the first steady run of ``reanchor_after`` same-direction points out of the band
    (``|score| >= z``, whatever their impact) starting at or after ``fresh_from`` (a position per series):
    (row of the run's first point, shift = median excess).

    Steady: the excess relative to the expected value varies by at most ``stability`` times its median
    over the run (a runaway that keeps growing is not a new level)."""
    k = s.reanchor_after
    out, resid, expected = r["out"], r["resid"], r["expected"]
    run = _run_length(out, np.sign(resid), pos)
    t_idx = np.flatnonzero(run >= k)
    t_idx = t_idx[pos[t_idx] - k + 1 >= fresh_from[sid[t_idx]]]
    if not len(t_idx):
        return t_idx, np.zeros(0)
    rows = t_idx[:, None] - np.arange(k)[None, :]
    window = resid[rows]
    base = np.abs(expected[rows])
    rel = np.where(base > 0, np.abs(window) / np.where(base > 0, base, 1.0), np.abs(window))
    steady = (rel.max(axis=1) - rel.min(axis=1)) <= s.stability * np.median(rel, axis=1)
    t_idx, window = t_idx[steady], window[steady]
    if not len(t_idx):
        return t_idx, np.zeros(0)
    first = _first_per_series(t_idx, sid)
    return t_idx[first] - k + 1, np.median(window[first], axis=1)


def _score_arrays(y: np.ndarray, sid: np.ndarray, s: Settings) -> dict[str, np.ndarray]:
    """Score arrays sorted by series then time (``sid``: dense series codes 0..n-1 in that order).

    The first pass scores everything; then, event by event in time order within each series (the
    earliest event of every series per round, all series at once), level shifts are added and taken
    back, and the series concerned are rescored, until no series has a new event:

    - a *shift* starts at the first point of a steady run of ``reanchor_after`` anomalies (see
      :func:`_new_shifts`) and applies to the points after the run;
    - a *return* takes the shifts back from the first point that is anomalous against the shifted level,
      in the opposite direction, but normal against the level before the shifts (a spike, or a runaway
      re-anchored on its way up, that is over). Shifts added one right after the other (a runaway's steps)
      form a chain that a return takes back whole.
    """
    n = len(y)
    pos, starts = _positions(sid)
    k = s.reanchor_after
    n_series = int(sid[-1]) + 1 if n else 0
    shift_own = np.zeros(n)  # each shift at its first point (history side)
    shift_eff = np.zeros(n)  # the same shift k points later, when it starts to apply to targets
    fresh_from = np.zeros(n_series, np.int64)  # a new run may start at this position
    chain_base = np.zeros(n_series)  # the level adjustment in force before the current chain of shifts
    chain_end = np.full(n_series, -(10**12), dtype=np.int64)  # position where the chain's last shift applies
    in_chain = np.zeros(n_series, bool)
    r = _pass(y, sid, pos, np.zeros(n), np.zeros(n), s)
    lookback = s.n_seasons * s.season_length + s.scale_window + 1
    rows = np.arange(n)  # the rows of the series that may have a new event (all, at first)
    while len(rows):
        # Work on the subset: its series are whole and contiguous, so local cumsums are per series.
        l_sid, l_pos = sid[rows], pos[rows]
        _, l_starts = _positions(l_sid)
        l_r = {name: v[rows] for name, v in r.items()}
        a_eff = _series_cumsum(shift_eff[rows], l_starts)
        # Returns: out of the band against the shifted level, normal against the level before the chain.
        gap = a_eff - chain_base[l_sid]
        ret = np.flatnonzero(
            in_chain[l_sid]
            & (l_pos >= chain_end[l_sid])
            & l_r["out"]
            & (np.sign(l_r["resid"]) == -np.sign(gap))
            & (np.abs(l_r["resid"] + gap) < s.z * l_r["sigma"])
        )
        ret = ret[_first_per_series(ret, l_sid)] if len(ret) else ret
        c_idx, delta = _new_shifts(l_r, l_sid, l_pos, fresh_from, s)
        if not len(ret) and not len(c_idx):
            break
        # Per series, only the earlier of its return and its new shift happens this round.
        ret_at = np.full(n_series, n, np.int64)
        ret_at[l_sid[ret]] = ret
        keep_shift = c_idx < ret_at[l_sid[c_idx]]
        c_idx, delta = c_idx[keep_shift], delta[keep_shift]
        shift_at = np.full(n_series, n, np.int64)
        shift_at[l_sid[c_idx]] = c_idx
        ret = ret[ret < shift_at[l_sid[ret]]]
        if len(ret):
            back = gap[ret]
            g = rows[ret]
            shift_own[g] -= back
            shift_eff[g] -= back
            series = sid[g]
            in_chain[series] = False
            fresh_from[series] = pos[g]
        if len(c_idx):
            a_before = a_eff[c_idx]
            g = rows[c_idx]
            series = sid[g]
            continues = in_chain[series] & (pos[g] <= chain_end[series] + 1)
            chain_base[series] = np.where(continues, chain_base[series], a_before)
            shift_own[g] += delta
            eff = g + k
            inside = eff < n
            inside[inside] = sid[eff[inside]] == series[inside]
            shift_eff[eff[inside]] += delta[inside]
            in_chain[series] = True
            chain_end[series] = pos[g] + k
            fresh_from[series] = pos[g] + k
        events = np.concatenate([rows[ret], rows[c_idx]])
        changed = np.unique(sid[events])
        rows = np.flatnonzero(np.isin(sid, changed))
        # Rescore each changed series from its event on; the rows before it are unchanged (causal).
        first_event = np.full(n_series, n, np.int64)
        np.minimum.at(first_event, sid[events], pos[events])
        tail = rows[pos[rows] >= first_event[sid[rows]] - lookback]
        sub_sid = np.searchsorted(changed, sid[tail])  # dense codes of the subset (changed is sorted)
        a_own = _series_cumsum(shift_own, starts)[tail]
        a_eff_t = _series_cumsum(shift_eff, starts)[tail]
        part = _pass(y[tail], sub_sid, pos[tail], a_own, a_eff_t, s)
        write = pos[tail] >= first_event[sid[tail]]
        for name, v in part.items():
            r[name][tail[write]] = v[write]
    r["pos"] = pos
    return r


# --- public API ------------------------------------------------------------------------------------


def score(
    df: pd.DataFrame,
    freq: str = "D",
    min_abs_impact: float = 5.0,
    min_pct_impact: float = 20.0,
    *,
    z: float = 5.0,
    season_length: int | None = None,
    n_seasons: int | None = None,
    scale_window: int | None = None,
    min_history: int | None = None,
    reanchor_after: int = 3,
    stability: float = 0.5,
    rel_floor: float = 0.02,
    min_scale: float = 0.01,
    duplicates: str = "sum",
) -> pd.DataFrame:
    """Score every point of every series.

    Returns one row per point of the regular grid (input points plus the filled missing periods, which
    are 0): ``unique_id``, ``ds``, ``y``, ``expected``, ``lower``, ``upper``, ``score``, ``is_anomaly``,
    ``impact`` (= y - expected) and ``impact_pct`` (percent of expected). ``expected`` and the band are NaN
    where there is no history yet. Defaults: daily data -> weekly season (7), 6 weeks of same-weekday
    values, a 56-day scale window, no alert in the first 28 days; sub-daily -> daily season, 7 days, a
    3-day scale window, no alert in the first 3 days; other frequencies -> no season, the last 4 points.
    Alert thresholds: ``z`` = 5 robust standard deviations, $5 (``min_abs_impact``, in units of ``y``)
    and 20% (``min_pct_impact``) per point; see bench/bench_anomaly.py for how they trade precision for
    recall.
    """
    s = settings(
        freq,
        season_length=season_length,
        n_seasons=n_seasons,
        scale_window=scale_window,
        min_history=min_history,
        z=z,
        min_abs_impact=min_abs_impact,
        min_pct_impact=min_pct_impact,
        reanchor_after=reanchor_after,
        stability=stability,
        rel_floor=rel_floor,
        min_scale=min_scale,
    )
    frame = prepare(df, freq, duplicates=duplicates)
    return _score_frame(frame, s)


def _score_frame(frame: pd.DataFrame, s: Settings, keys: tuple[str, ...] = ("unique_id",)) -> pd.DataFrame:
    cols = [*keys, "ds", "y", "expected", "lower", "upper", "score", "is_anomaly", "impact", "impact_pct"]
    if frame.empty:
        out = frame.reindex(columns=cols)
        out["is_anomaly"] = out["is_anomaly"].astype(bool)
        return out
    sid = frame.groupby(list(keys), sort=False, observed=True).ngroup().to_numpy()
    r = _score_arrays(frame["y"].to_numpy(), sid, s)
    out = frame.loc[:, [*keys, "ds", "y"]].copy()
    expected = r["expected"]
    half = s.z * r["sigma"]
    out["expected"] = expected
    out["lower"] = expected - half
    out["upper"] = expected + half
    out["score"] = r["score"]
    out["is_anomaly"] = r["flag"]
    out["impact"] = frame["y"].to_numpy() - expected
    out["impact_pct"] = r["pct"]
    return out


def rolling_zscore(
    df: pd.DataFrame,
    freq: str = "D",
    min_abs_impact: float = 5.0,
    min_pct_impact: float = 20.0,
    *,
    window: int = 28,
    z: float = 3.0,
    min_history: int | None = None,
) -> pd.DataFrame:
    """The classic baseline, for comparison: mean and standard deviation of the previous ``window``
    points, no seasonality, no robustness. Same output columns and thresholds as :func:`score`."""
    frame = prepare(df, freq)
    out = frame.loc[:, ["unique_id", "ds", "y"]].copy()
    sid = frame.groupby("unique_id", sort=False, observed=True).ngroup().to_numpy()
    pos, _ = _positions(sid)
    g = out.groupby(sid, sort=False)["y"]
    mean = g.transform(lambda v: v.rolling(window, min_periods=3).mean().shift(1)).to_numpy()
    std = g.transform(lambda v: v.rolling(window, min_periods=3).std().shift(1)).to_numpy()
    std = np.fmax(std, 0.01)  # a flat window: one cent
    with np.errstate(invalid="ignore", divide="ignore"):
        sc = (out["y"].to_numpy() - mean) / std
        pct = np.where(mean > 0, 100.0 * (out["y"].to_numpy() - mean) / np.where(mean > 0, mean, 1), np.nan)
    impact = out["y"].to_numpy() - mean
    hist = window // 2 if min_history is None else min_history
    out["expected"] = mean
    out["lower"] = mean - z * std
    out["upper"] = mean + z * std
    out["score"] = sc
    out["is_anomaly"] = (
        (pos >= hist)
        & (np.abs(sc) >= z)
        & (np.abs(impact) >= min_abs_impact)
        & (np.isnan(pct) | (np.abs(pct) >= min_pct_impact))
        & np.isfinite(sc)
    )
    out["impact"] = impact
    out["impact_pct"] = pct
    return out


def episodes(
    scored: pd.DataFrame,
    max_gap: int = 1,
    severity_tiers: tuple[float, float, float] = (100.0, 1_000.0, 10_000.0),
    extreme_score: float = 15.0,
) -> pd.DataFrame:
    """Merge anomalous points into episodes.

    Points of one series in the same direction separated by at most ``max_gap`` normal points form one
    episode. Columns: ``unique_id``, ``start``, ``end`` (first and last anomalous timestamp), ``points``
    (anomalous points), ``actual``, ``expected`` and ``total_impact`` (sums over every point from start to
    end, gap points included), ``impact_pct`` (total impact in percent of expected), ``peak_impact`` and
    ``peak_ds`` (the anomalous point with the largest absolute impact), ``max_score`` (largest absolute
    score, signed), ``direction`` (``up``/``down``) and ``severity``.

    Severity: ``low`` below ``severity_tiers[0]`` of absolute total impact, ``medium`` below ``[1]``,
    ``high`` below ``[2]``, ``critical`` above; raised one level (up to critical) when the cost more than
    doubled or went to nothing over the episode (``|impact_pct| >= 100``) or the peak score is at least 3 times the
    default alert threshold (``|max_score| >= extreme_score``, 15).
    """
    needed = ("unique_id", "ds", "y", "expected", "score", "is_anomaly", "impact")
    missing = [c for c in needed if c not in scored.columns]
    if missing:
        raise ValueError(f"scored frame lacks {missing}; pass the output of score()")
    cols = [
        "unique_id",
        "start",
        "end",
        "points",
        "actual",
        "expected",
        "total_impact",
        "impact_pct",
        "peak_impact",
        "peak_ds",
        "max_score",
        "direction",
        "severity",
    ]
    frame = scored.loc[:, list(needed)].sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    sid = frame.groupby("unique_id", sort=False, observed=True).ngroup().to_numpy()
    pos, _ = _positions(sid)
    flag = frame["is_anomaly"].to_numpy(bool)
    if not flag.any():
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(
                    cols,
                    [
                        frame["unique_id"].dtype,
                        "datetime64[ns]",
                        "datetime64[ns]",
                        "int64",
                        "float64",
                        "float64",
                        "float64",
                        "float64",
                        "float64",
                        "datetime64[ns]",
                        "float64",
                        "object",
                        "object",
                    ],
                )
            }
        )
    idx = np.flatnonzero(flag)
    sign = np.sign(frame["impact"].to_numpy()[idx])
    new = np.ones(len(idx), bool)
    new[1:] = (
        (sid[idx][1:] != sid[idx][:-1])
        | (pos[idx][1:] - pos[idx][:-1] > max_gap + 1)
        | (sign[1:] != sign[:-1])
    )
    ep = np.cumsum(new) - 1
    first, last = idx[new], idx[np.append(np.flatnonzero(new)[1:] - 1, len(idx) - 1)]
    # Span sums over every row from first to last (gap rows included).
    impact = np.nan_to_num(frame["impact"].to_numpy())
    expected = np.nan_to_num(frame["expected"].to_numpy())
    y = frame["y"].to_numpy()
    ci, ce, cy = (np.concatenate([[0.0], np.cumsum(v)]) for v in (impact, expected, y))
    total = ci[last + 1] - ci[first]
    exp_total = ce[last + 1] - ce[first]
    act_total = cy[last + 1] - cy[first]
    pts = np.bincount(ep)
    abs_imp = np.abs(impact[idx])
    # Peak: the anomalous row with the largest |impact| in each episode.
    order = np.lexsort((-abs_imp, ep))
    peak_row = idx[order[np.searchsorted(ep[order], np.arange(ep.max() + 1))]]
    sc = frame["score"].to_numpy()
    order_s = np.lexsort((-np.abs(sc[idx]), ep))
    score_row = idx[order_s[np.searchsorted(ep[order_s], np.arange(ep.max() + 1))]]
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(exp_total > 0, 100.0 * total / np.where(exp_total > 0, exp_total, 1), np.nan)
    tiers = np.asarray(severity_tiers, float)
    level = np.searchsorted(tiers, np.abs(total), side="right")
    bump = (np.nan_to_num(np.abs(pct)) >= 100.0) | (np.abs(sc[score_row]) >= extreme_score)
    level = np.minimum(level + bump, 3)
    out = pd.DataFrame(
        {
            "unique_id": frame["unique_id"].to_numpy()[first],
            "start": frame["ds"].to_numpy()[first],
            "end": frame["ds"].to_numpy()[last],
            "points": pts.astype("int64"),
            "actual": act_total,
            "expected": exp_total,
            "total_impact": total,
            "impact_pct": pct,
            "peak_impact": impact[peak_row],
            "peak_ds": frame["ds"].to_numpy()[peak_row],
            "max_score": sc[score_row],
            "direction": np.where(total >= 0, "up", "down"),
            "severity": np.array(SEVERITIES, dtype=object)[level],
        }
    )
    return out[cols]


def root_causes(
    episode: pd.DataFrame | pd.Series,
    detail_df: pd.DataFrame,
    dims: list[str] | tuple[str, ...],
    top_n: int = 5,
    freq: str = "D",
    **score_kwargs,
) -> pd.DataFrame:
    """Rank the dimension values by their dollar contribution to each episode's impact.

    ``episode`` is one row of :func:`episodes` (a Series) or a frame of them; ``detail_df`` has ``ds``,
    the ``dims`` columns and ``y`` (cost), plus ``unique_id`` when the episodes belong to several series
    (without it, all of ``detail_df`` is taken to belong to the episodes' single series). For each
    dimension value, its own daily series (0 where it had no cost) gets an expected value exactly as in
    :func:`score` (same settings, ``score_kwargs``); its contribution is the sum over the episode's days of
    actual - expected, and ``share`` = contribution / the episode's ``total_impact``.

    Returns the top ``top_n`` values per dimension: ``unique_id``, ``start``, ``end``, ``dimension``,
    ``value``, ``actual``, ``expected``, ``contribution``, ``share``, ``rank`` (within the dimension) and
    ``overall_rank`` (across dimensions), ranked in the episode's direction (largest increase first for an
    ``up`` episode, largest decrease first for ``down``).
    """
    eps = episode.to_frame().T if isinstance(episode, pd.Series) else episode
    eps = eps.reset_index(drop=True)
    for c in ("unique_id", "start", "end", "total_impact"):
        if c not in eps.columns:
            raise ValueError(f"episode lacks {c!r}; pass rows of episodes()")
    dims = list(dims)
    if not dims:
        raise ValueError("dims must name at least one dimension column")
    missing = [c for c in ("ds", "y", *dims) if c not in detail_df.columns]
    if missing:
        raise ValueError(f"detail_df lacks {missing}")
    cols = [
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
    ]
    if eps.empty:
        return pd.DataFrame(columns=cols)
    detail = detail_df
    if "unique_id" not in detail.columns:
        if eps["unique_id"].nunique() > 1:
            raise ValueError("detail_df needs a unique_id column when the episodes span several series")
        detail = detail.assign(unique_id=eps["unique_id"].iloc[0])
    else:
        detail = detail[detail["unique_id"].isin(eps["unique_id"].unique())]
    eps = eps.assign(
        start=pd.to_datetime(eps["start"]),
        end=pd.to_datetime(eps["end"]),
        total_impact=eps["total_impact"].astype(float),
    )
    s = settings(freq, **score_kwargs)
    parts = []
    for dim in dims:
        d = detail.loc[:, ["unique_id", "ds", dim, "y"]].rename(columns={dim: "value"})
        d["value"] = d["value"].astype(object).where(d["value"].notna(), "(none)")
        d = prepare(d, freq, extra=("value",))
        # Every value's series spans its unique_id's whole detail history (0 before it appeared).
        span = d.groupby("unique_id", observed=True)["ds"].agg(["min", "max"])
        combos = d.drop_duplicates(["unique_id", "value"])[["unique_id", "value"]]
        ends = combos.join(span, on="unique_id")
        pad = pd.concat(
            [
                ends[["unique_id", "value"]].assign(ds=ends["min"].to_numpy(), y=0.0),
                ends[["unique_id", "value"]].assign(ds=ends["max"].to_numpy(), y=0.0),
            ]
        )
        d = prepare(pd.concat([d, pad], ignore_index=True), freq, extra=("value",))
        scored = _score_frame(d, s, keys=("unique_id", "value"))
        scored["expected"] = scored["expected"].fillna(scored["y"])  # no history yet: no contribution
        m = scored.merge(eps[["unique_id", "start", "end", "total_impact"]], on="unique_id")
        m = m[(m["ds"] >= m["start"]) & (m["ds"] <= m["end"])]
        agg = (
            m.groupby(["unique_id", "start", "end", "value"], observed=True, sort=False)
            .agg(actual=("y", "sum"), expected=("expected", "sum"), total_impact=("total_impact", "first"))
            .reset_index()
        )
        agg["dimension"] = dim
        parts.append(agg)
    res = pd.concat(parts, ignore_index=True)
    res["contribution"] = res["actual"] - res["expected"]
    with np.errstate(invalid="ignore", divide="ignore"):
        res["share"] = np.where(res["total_impact"] != 0, res["contribution"] / res["total_impact"], np.nan)
    direction = np.where(res["total_impact"] >= 0, 1.0, -1.0)
    res["_key"] = -direction * res["contribution"]
    res = res.sort_values(["unique_id", "start", "_key"], kind="stable")
    res["overall_rank"] = res.groupby(["unique_id", "start"]).cumcount() + 1
    res["rank"] = res.groupby(["unique_id", "start", "dimension"]).cumcount() + 1
    res = res[res["rank"] <= top_n]
    res = res.sort_values(["unique_id", "start", "overall_rank"]).reset_index(drop=True)
    res["overall_rank"] = res.groupby(["unique_id", "start"]).cumcount() + 1
    return res[cols]
