"""The long series format shared by the forecasting and anomaly models, and its preparation.

A frame in long format has one row per series and timestamp: ``unique_id`` (any hashable), ``ds`` (a
timestamp) and ``y`` (a number, e.g. dollars of cost in that period). :func:`prepare` turns any such frame
into a clean, regular one without touching the caller's frame:

- ``ds`` is parsed to ``datetime64[ns]``; time-zone aware timestamps are converted to UTC and made naive.
- ``y`` must be finite: NaN or infinite values are an error (a missing value is not a zero of cost, it is a
  data problem upstream).
- Duplicate ``(unique_id, ds)`` rows are summed (a bill splits one day's cost over many lines), or rejected
  with ``duplicates="raise"``.
- Every series is put on the regular grid of ``freq`` from its first timestamp to its last one (or to the
  latest timestamp of the whole frame with ``align_end=True``); **a missing period is filled with 0**,
  because a day absent from a bill is a day without charges. Timestamps off that grid are an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REQUIRED = ("unique_id", "ds", "y")


def to_offset(freq: str | pd.DateOffset) -> pd.DateOffset:
    """The pandas offset of ``freq`` (``"D"``, ``"h"``/``"H"``, ``"5min"``, ``"W"``, ``"MS"``, ...)."""
    if isinstance(freq, pd.DateOffset):
        return freq
    aliases = {"H": "h", "T": "min", "S": "s"}  # pandas 2.2 deprecated the upper-case spellings
    text = str(freq)
    for old, new in aliases.items():
        if text.endswith(old) and not text.endswith("MS") and not text.endswith("QS"):
            text = text[: -len(old)] + new
            break
    try:
        return pd.tseries.frequencies.to_offset(text)
    except ValueError as exc:
        raise ValueError(f"freq {freq!r} is not a pandas frequency") from exc


def step_nanos(freq: str | pd.DateOffset) -> int | None:
    """Length of one step of ``freq`` in nanoseconds, or None when the step has no fixed length (months)."""
    offset = to_offset(freq)
    if isinstance(offset, pd.offsets.Tick):
        return int(offset.nanos)
    if isinstance(offset, pd.offsets.Week) and offset.weekday is None:
        return int(offset.n * 7 * 86_400 * 10**9)
    return None


DAY_NS = 86_400 * 10**9


def season_lengths(freq: str | pd.DateOffset) -> list[int]:
    """The seasonal periods of a frequency, shortest first, before any check of history length.

    Daily: week (7) and year (365). Sub-daily steps that divide a day: day and week (hourly 24, 168;
    5-minute 288, 2016). Weekly: 52. Monthly: 12. Quarterly: 4. Anything else: none.
    """
    offset = to_offset(freq)
    nanos = step_nanos(offset)
    if nanos is not None:
        if nanos == DAY_NS:
            return [7, 365]
        if nanos < DAY_NS and DAY_NS % nanos == 0:
            per_day = DAY_NS // nanos
            return [per_day, 7 * per_day]
        if nanos == 7 * DAY_NS:
            return [52]
        return []
    name = offset.name if hasattr(offset, "name") else ""
    if name.startswith(("M", "BM", "ME", "MS", "BMS", "SM")):
        return [12]
    if name.startswith(("Q", "BQ")):
        return [4]
    if name.startswith(("W",)):
        return [52]
    return []


def check_columns(df: pd.DataFrame, required: tuple[str, ...] = REQUIRED) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; the long format needs {list(required)}")


def _as_naive_utc(ds: pd.Series) -> pd.Series:
    ds = pd.to_datetime(ds)
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_convert("UTC").dt.tz_localize(None)
    return ds.astype("datetime64[ns]")


def prepare(
    df: pd.DataFrame,
    freq: str = "D",
    *,
    duplicates: str = "sum",
    align_end: bool = False,
    extra: tuple[str, ...] = (),
) -> pd.DataFrame:
    """A clean copy of ``df``: columns ``unique_id``, ``ds``, ``y`` (float64) and ``extra``, sorted by
    series and time, on a regular grid of ``freq`` with missing periods filled with 0 (see module doc).

    ``extra`` columns (e.g. dimensions) become part of the key: duplicates are summed per
    ``(unique_id, *extra, ds)`` and each key combination is a series of its own.
    """
    check_columns(df, (*REQUIRED, *extra))
    if duplicates not in ("sum", "raise"):
        raise ValueError("duplicates must be 'sum' or 'raise'")
    keys = ["unique_id", *extra]
    out = df.loc[:, [*keys, "ds", "y"]].copy()
    out["ds"] = _as_naive_utc(out["ds"])
    if out["ds"].isna().any():
        raise ValueError("ds has missing (NaT) timestamps")
    try:
        out["y"] = pd.to_numeric(out["y"], errors="raise").astype("float64")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y must be numeric: {exc}") from exc
    bad = ~np.isfinite(out["y"].to_numpy())
    if bad.any():
        row = out.loc[bad].iloc[0]
        raise ValueError(
            f"y has {int(bad.sum())} NaN or infinite value(s), e.g. unique_id={row['unique_id']!r} "
            f"ds={row['ds']}; a missing period must be absent (it is then filled with 0), not NaN"
        )
    dup = out.duplicated([*keys, "ds"], keep=False)
    if dup.any():
        if duplicates == "raise":
            row = out.loc[dup].iloc[0]
            raise ValueError(
                f"{int(dup.sum())} rows share a (unique_id, ds), e.g. unique_id={row['unique_id']!r} "
                f"ds={row['ds']}; aggregate them first or pass duplicates='sum'"
            )
        out = out.groupby([*keys, "ds"], sort=False, observed=True, as_index=False)["y"].sum()
    if out.empty:
        return out.reset_index(drop=True)
    return _regularize(out, keys, freq, align_end)


def _regularize(out: pd.DataFrame, keys: list[str], freq: str, align_end: bool) -> pd.DataFrame:
    """Reindex every series onto the grid of ``freq`` (first to last timestamp), filling 0."""
    out = out.sort_values([*keys, "ds"], kind="stable").reset_index(drop=True)
    end_all = out["ds"].max()
    nanos = step_nanos(freq)
    gid = out.groupby(keys, sort=False, observed=True).ngroup().to_numpy()
    ds_ns = out["ds"].to_numpy().astype("int64")
    starts = pd.Series(ds_ns).groupby(gid).transform("min").to_numpy()
    if nanos is not None:
        offset = ds_ns - starts
        if (offset % nanos).any():
            i = int(np.flatnonzero(offset % nanos)[0])
            raise ValueError(
                f"timestamp {out['ds'].iloc[i]} of unique_id={out['unique_id'].iloc[i]!r} is not on the "
                f"{freq!r} grid that starts at the series' first timestamp"
            )
        pos = offset // nanos
        last = pd.Series(pos).groupby(gid).max().to_numpy()
        first_ns = pd.Series(starts).groupby(gid).first().to_numpy()
        if align_end:
            span = (end_all.value - first_ns) // nanos
            last = np.maximum(last, span)
        lengths = last + 1
        n = int(lengths.sum())
        series_of = np.repeat(np.arange(len(lengths)), lengths)
        base = np.repeat(np.cumsum(lengths) - lengths, lengths)
        grid_pos = np.arange(n) - base
        y = np.zeros(n)
        y[(np.cumsum(lengths) - lengths)[gid] + pos] = out["y"].to_numpy()
        key_rows = out.drop_duplicates(keys).reset_index(drop=True)
        res = key_rows.loc[series_of, keys].reset_index(drop=True)
        res["ds"] = (first_ns[series_of] + grid_pos * nanos).astype("int64").view("datetime64[ns]")
        res["y"] = y
        return res
    # Calendar frequencies (months, quarters, anchored weeks): one date_range per series.
    parts = []
    for _, g in out.groupby(keys, sort=False, observed=True):
        end = end_all if align_end else g["ds"].iloc[-1]
        grid = pd.date_range(g["ds"].iloc[0], end, freq=freq)
        off = ~g["ds"].isin(grid)
        if off.any():
            raise ValueError(
                f"timestamp {g['ds'][off].iloc[0]} of unique_id={g['unique_id'].iloc[0]!r} is not on the "
                f"{freq!r} grid that starts at the series' first timestamp"
            )
        full = g.set_index("ds")["y"].reindex(grid, fill_value=0.0)
        part = pd.DataFrame({"ds": grid, "y": full.to_numpy()})
        for k in keys:
            part[k] = g[k].iloc[0]
        parts.append(part[[*keys, "ds", "y"]])
    return pd.concat(parts, ignore_index=True)
