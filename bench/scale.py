"""Scale benchmark: every tfm stage run as a user runs it, at 1M to 50M line items, beside DuckDB and focus-converter.

    .venv/bin/python bench/scale.py --sizes 1M,10M,50M --runs 3 --out bench-results/scale.json

The quick default is ``--sizes 1M --runs 3``. Not part of the tests. Inputs come from ``tfm generate`` (one
billing month, 2026-03, seed 42); every stage is a separate process started the way a user would start it,
each run on a fresh ``TFM_HOME``:

* **FOCUS comparison** (``--focus-sizes``, default 1M; ``''`` skips it), for a legacy CUR CSV delivery
  (``--format cur-legacy-csv``) and for CUR 2.0 parquet (``--format cur2``): ``tfm ingest`` plus
  ``tfm build --select +fct_focus_charges`` (the FOCUS table and its parents) against DuckDB's bare
  full-width load of the same files into a table (``CREATE TABLE t AS SELECT * FROM read_csv(...)``, a
  fresh process) and against focus-converter 1.0.0 (provider ``aws-cur``, its own virtualenv, installed on
  first use by ``orchestration.conformance.focus_converter``) converting the same legacy CUR rows, given to
  it as one plain CSV, to FOCUS parquet. A converter failure is recorded in the results, not raised.
* **End to end** (``--sizes``) on CUR 2.0 parquet: ``tfm ingest``, then ``tfm build`` (dbt models and tests,
  the Python forecast and anomaly models, the Great Expectations checks, publish), against DuckDB's bare
  load of the same parquet files.

The build is split into its Dagster steps (from the run's event log under ``$TFM_HOME/dagster``): dbt build
(``tfm_dbt_models*`` steps: models and dbt tests), Python models (``ml__*``), checks (``gx_*``), the other
steps (publish), startup (before the first step: process start, imports, loading the definitions, which
parses the dbt project on a fresh ``TFM_HOME``, and scanning the landing folder at ingest) and the time
between and after the steps.
dbt's own ``elapsed_time`` from its ``run_results.json`` files is kept in the JSON beside them.

A measurement whose slowest stage takes under a minute is repeated ``--runs`` times and every figure is the
median of those runs; a longer one runs once (the JSON gives the runs behind each figure). After each build
the FOCUS table's ``sum(BilledCost)`` and the raw table's cost must both equal the generator's total to the
cent, or the benchmark stops with an error. DuckDB everywhere (tfm and the bare load) gets the same
``memory_limit``: ``TFM_MEMORY_LIMIT``, default 4GB, spilling to disk beyond it.

Prints one table and the ratios the targets are read from, and writes every figure to ``--out`` (JSON,
rewritten after each size; a size that fails leaves, under ``failed``, its error and every stage run that finished
before it, also printed as each finishes). Each size's temporary folders are deleted before the next size (``--keep``
keeps them, for debugging); a size needs about 1.5 GB of disk per million line items (the generated files,
the warehouse and the published copy), and room for DuckDB's spill: 50M needed about 100 GB at its peak.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from typing import Any, Self

from orchestration.settings import REPO_ROOT, duckdb_memory_limit

PERIOD = "2026-03"
SAMPLE_EVERY_S = 0.2
REPEAT_UNDER_S = 60.0
CONVERTER_TIMEOUT_S = 3600.0
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024
TFM = str(Path(sys.executable).with_name("tfm"))
# The raw table and cost column each generated format lands in.
RAW_COST = {"cur2": ("raw.aws_cur2", "line_item_unblended_cost"),
            "cur-legacy-csv": ("raw.aws_cur_legacy", "line_item_unblended_cost")}  # fmt: skip
# Settings that would point a stage at another home than its fresh TFM_HOME.
HOME_VARIABLES = (
    "TFM_LANDING",
    "DAGSTER_HOME",
    "TFM_WAREHOUSE_PATH",
    "TFM_DUCKDB_TEMP_DIR",
    "DBT_TARGET_PATH",
)
BARE_LOAD = """
import sys, duckdb
database, reader, options, memory_limit, temp_directory, *files = sys.argv[1:]
con = duckdb.connect(database)
con.execute(f"SET memory_limit = '{memory_limit}'")
con.execute(f"SET temp_directory = '{temp_directory}'")
con.execute("SET enable_progress_bar = false")
paths = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}([{paths}]{options})")
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
con.close()
"""
PEAK_DEFINITION = (
    "peak RSS: the largest sum of resident set sizes over the stage's process tree (the stage's process "
    f"and all its descendants, from /proc every {SAMPLE_EVERY_S} s; pages shared between processes count "
    "once per process). max_process_rss_mb (JSON): the largest single process of the tree, from wait4's "
    "rusage, as a cross-check"
)


class StageError(RuntimeError):
    """A tfm stage or the bare load failed, or a result is wrong: the benchmark stops."""


def parse_size(text: str) -> int:
    """``1M``, ``10M``, ``200k``, ``1500000`` -> a number of line items."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (examples: 200k, 1M, 50M)")
    number = Decimal(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    if number < 1 or number != int(number):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of rows")
    return int(number)


def size_label(rows: int) -> str:
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if rows >= scale and rows % scale == 0:
            return f"{rows // scale}{unit}"
    return str(rows)


def size_list(text: str) -> list[int]:
    return [parse_size(part) for part in text.split(",") if part.strip()]


# --- measuring ----------------------------------------------------------------------------------------


def tree_rss(root: int) -> int:
    """Bytes resident in the descendants of ``root`` (not ``root`` itself), summed over processes."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * PAGE_BYTES
    total, todo = 0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


class Sampler:
    """Samples the resident memory of this process's descendants on a thread while a stage runs."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        root = os.getpid()
        while True:
            self.samples.append((time.time(), tree_rss(root)))
            if self._stop.wait(SAMPLE_EVERY_S):
                return

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mb(self, start: float = 0.0, end: float = float("inf")) -> float:
        return max((b for t, b in self.samples if start <= t <= end), default=0) / MB


@dataclass
class Run:
    """One measured run of one stage; ``steps`` holds its Dagster steps grouped by kind."""

    wall_s: float
    peak_rss_mb: float
    max_process_rss_mb: float | None = None
    started_at: float = 0.0  # the epoch time the stage's process started
    steps: dict[str, Run] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def run_process(command: list[str], env: dict[str, str], log: Path) -> tuple[Run, Sampler]:
    """Run ``command`` to its end, output to ``log``; its wall time and peak memory. Raises on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out, Sampler() as sampler:
        started, started_at = time.monotonic(), time.time()
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-30:])
        raise StageError(f"{log.stem} exited {process.returncode}:\n{tail}")
    return Run(
        wall, sampler.peak_mb(), max_process_rss_mb=usage.ru_maxrss / 1024, started_at=started_at
    ), sampler


def repeat(runs: int, measure: Callable[[int], dict[str, Run]]) -> list[dict[str, Run]]:
    """``measure(i)`` once, then ``runs - 1`` more times if its slowest stage took under a minute."""
    results = [measure(0)]
    if max(r.wall_s for r in results[0].values()) < REPEAT_UNDER_S:
        results += [measure(i) for i in range(1, runs)]
    return results


def figure(rows: int, runs: list[Run]) -> dict[str, Any]:
    """The median of each figure over ``runs``, and the step figures the same way."""
    wall = statistics.median(r.wall_s for r in runs)
    out: dict[str, Any] = {
        "rows": rows,
        "wall_s": round(wall, 2),
        "rows_per_s": round(rows / wall) if wall else None,
        "peak_rss_mb": round(statistics.median(r.peak_rss_mb for r in runs)),
        "runs": len(runs),
        "wall_s_each": [round(r.wall_s, 2) for r in runs],
    }
    crosscheck = [r.max_process_rss_mb for r in runs if r.max_process_rss_mb is not None]
    if crosscheck:
        out["max_process_rss_mb"] = round(statistics.median(crosscheck))
    names = [name for name in runs[0].steps if all(name in r.steps for r in runs)]
    if names:
        out["steps"] = {name: figure(rows, [r.steps[name] for r in runs]) for name in names}
    if runs[0].extra:
        out["extra"] = runs[0].extra if len(runs) == 1 else [r.extra for r in runs]
    return out


# --- what tfm did -------------------------------------------------------------------------------------


def step_kind(step_key: str) -> str:
    if step_key.startswith("tfm_dbt_models"):
        return "dbt build"
    if step_key.startswith("ml__"):
        return "Python models"
    if step_key.startswith("gx_"):
        return "checks"
    if step_key.startswith("raw__"):
        return "load"
    return step_key.replace("published_warehouse", "publish")


# A stage's time before its first Dagster step: process start, imports, loading the definitions (on a fresh
# TFM_HOME that parses the dbt project), scanning the landing folder at ingest.
STARTUP = "startup"
BEFORE_STEPS = "imports, definitions, the dbt parse on a fresh TFM_HOME, the landing scan"
# The rest of its time outside the steps: between them, and after the last one until the process ends.
OUTSIDE_STEPS = "between and after steps"


def dagster_runs(home: Path) -> set[Path]:
    return set((home / "dagster" / "history" / "runs").glob("*-*.db"))


def split_steps(run: Run, sampler: Sampler, run_dbs: set[Path]) -> None:
    """Fill ``run.steps`` from the Dagster event log of the runs the stage made: time and peak per kind."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for db in run_dbs:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            events = con.execute(
                "SELECT step_key, dagster_event_type, event FROM event_logs WHERE dagster_event_type IN "
                "('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') ORDER BY id"
            ).fetchall()
        finally:
            con.close()
        started: dict[str, float] = {}
        for step_key, kind, event in events:
            at = json.loads(event)["timestamp"]
            if kind == "STEP_START":
                started[step_key] = at
            elif step_key in started:
                spans.setdefault(step_kind(step_key), []).append((started.pop(step_key), at))
    for kind, kind_spans in spans.items():
        peak = max(sampler.peak_mb(start, end) for start, end in kind_spans)
        run.steps[kind] = Run(sum(end - start for start, end in kind_spans), peak)
    if spans:
        every = [span for kind_spans in spans.values() for span in kind_spans]
        first = min(start for start, _ in every)
        outside = [b for t, b in sampler.samples if t > first and not any(s <= t <= e for s, e in every)]
        steps = sum(step.wall_s for step in run.steps.values())
        startup = Run(first - run.started_at, sampler.peak_mb(end=first))
        run.steps[STARTUP] = startup
        run.steps[OUTSIDE_STEPS] = Run(
            max(run.wall_s - steps - startup.wall_s, 0.0), max(outside, default=0) / MB
        )


def dbt_results(home: Path) -> dict[str, Any]:
    """dbt's own account of the build: elapsed time and node counts over its run_results.json files."""
    elapsed, nodes, tests_s = 0.0, 0, 0.0
    for path in (home / "dbt" / "target").glob("*/run_results.json"):
        results = json.loads(path.read_text())
        elapsed += results.get("elapsed_time", 0.0)
        nodes += len(results["results"])
        tests_s += sum(
            r["execution_time"]
            for r in results["results"]
            if r["unique_id"].startswith(("test.", "unit_test."))
        )
    return {"dbt_elapsed_s": round(elapsed, 2), "dbt_nodes": nodes, "dbt_tests_node_s": round(tests_s, 2)}


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / MB


def to_cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def check_costs(home: Path, fmt: str, expected: Decimal) -> dict[str, str]:
    """The FOCUS table's and the raw table's cost must equal the generator's total, to the cent."""
    import duckdb

    table, column = RAW_COST[fmt]
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        focus = to_cents(con.execute("SELECT sum(BilledCost) FROM marts.fct_focus_charges").fetchone()[0])
        raw = to_cents(con.execute(f"SELECT sum({column}) FROM {table}").fetchone()[0])
    finally:
        con.close()
    if not focus == raw == expected:
        raise StageError(f"cost check failed: generator {expected}, {table} {raw}, FOCUS BilledCost {focus}")
    return {"generator": str(expected), "raw": str(raw), "focus_billed_cost": str(focus)}


# --- the stages ---------------------------------------------------------------------------------------


@dataclass
class Inputs:
    """One generated delivery: the landing folder tfm ingests and the billing files in it."""

    fmt: str
    rows: int
    landing: Path
    files: list[Path]
    cost: Decimal
    generate: Run

    @property
    def mb(self) -> float:
        return sum(f.stat().st_size for f in self.files) / MB


def generate(fmt: str, rows: int, folder: Path, logs: Path) -> Inputs:
    """``tfm generate`` one month into ``folder/landing``; the answer key goes beside it, not in it."""
    landing = folder / "landing"
    command = [
        TFM,
        "generate",
        "--out",
        str(landing),
        "--format",
        fmt,
        "--rows",
        str(rows),
        "--start",
        PERIOD,
    ]
    run, _ = run_process(command, dict(os.environ), logs / f"generate-{fmt}.log")
    # The labels and the account reference are the generator's answer key, not inputs a company delivers.
    for side in ("labels", "reference"):
        shutil.move(landing / side, folder / side)
    found = re.search(
        rf"^\s+{PERIOD}: [\d,]+ rows, billed cost (-?[\d,]+\.\d\d)$",
        (logs / f"generate-{fmt}.log").read_text(),
        re.MULTILINE,
    )
    if found is None:
        raise StageError(f"tfm generate printed no billed cost for {PERIOD} (log {logs})")
    export = landing / ("cur2" if fmt == "cur2" else "cur-legacy")
    files = sorted(p for p in export.rglob("*") if p.name.endswith((".parquet", ".csv.gz")))
    return Inputs(fmt, rows, landing, files, Decimal(found.group(1).replace(",", "")), run)


def bare_load(inputs: Inputs, folder: Path, logs: Path, index: int) -> Run:
    """DuckDB alone, in a fresh process: every column of the billing files into one table of a new file."""
    folder.mkdir(parents=True)
    # The chunks of a CSV delivery are sniffed one by one: a column empty in the first chunk's sample (a
    # Savings Plan's start time) may come out TIMESTAMP there and TIMESTAMP WITH TIME ZONE in the next.
    reader, options = ("read_parquet", "") if inputs.fmt == "cur2" else ("read_csv", ", union_by_name = true")
    command = [sys.executable, "-c", BARE_LOAD, str(folder / "bare.duckdb"), reader, options,
               duckdb_memory_limit(), str(folder / "tmp"), *map(str, inputs.files)]  # fmt: skip
    log = logs / f"bare-load-{inputs.fmt}-{index}.log"
    run, _ = run_process(command, dict(os.environ), log)
    loaded = int(log.read_text().split()[-1])
    if loaded != inputs.rows:
        raise StageError(f"the bare load read {loaded:,} rows of {inputs.rows:,}")
    shutil.rmtree(folder)
    return run


def tfm_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HOME_VARIABLES}
    env["TFM_HOME"] = str(home)
    return env


def tfm_run(
    inputs: Inputs, build: list[str], folder: Path, ctx: Context, name: str
) -> dict[str, Run]:
    """``tfm ingest`` then ``tfm <build>`` on a fresh TFM_HOME; checks the costs; the two stages' runs."""
    home = folder / "home"
    env = tfm_env(home)
    stages: dict[str, Run] = {}
    for stage, command in (
        ("ingest", [TFM, "ingest", "--landing", str(inputs.landing)]),
        ("build", [TFM, *build]),
    ):
        before = dagster_runs(home)
        run, sampler = run_process(command, env, ctx.logs / f"{name}-{stage}.log")
        split_steps(run, sampler, dagster_runs(home) - before)
        stages[stage] = run
        ctx.record(f"{name} {stage}", run)
    stages["build"].extra = {
        **dbt_results(home),
        "costs": check_costs(home, inputs.fmt, inputs.cost),
        "home_mb": round(folder_mb(home)),
        "warehouse_mb": round((home / "warehouse.duckdb").stat().st_size / MB),
    }
    if not ctx.keep:
        shutil.rmtree(folder)
    return stages


def converter_csv(inputs: Inputs, folder: Path) -> Path:
    """The legacy CUR delivery's gzip chunks as the one plain CSV focus-converter reads (header once)."""
    target = folder / "cur-legacy.csv"
    with open(target, "wb") as out:
        for number, chunk in enumerate(inputs.files):
            with gzip.open(chunk, "rb") as source:
                if number:
                    source.readline()
                shutil.copyfileobj(source, out, 16 * MB)
    return target


def converter_run(csv: Path, folder: Path) -> Run:
    """focus-converter on ``csv``, in its own virtualenv; a failure is recorded in ``extra['error']``."""
    import pyarrow.parquet as pq

    from orchestration.conformance.focus_converter import ConverterError, run_focus_converter

    out = folder / "focus"
    with Sampler() as sampler:
        started = time.monotonic()
        try:
            run_focus_converter(csv, out, timeout=CONVERTER_TIMEOUT_S)
            error = None
        except ConverterError as exc:
            error = str(exc).strip().splitlines()[0]
        wall = time.monotonic() - started
    run = Run(wall, sampler.peak_mb())
    if error:
        run.extra["error"] = error
    else:
        run.extra["rows_written"] = sum(pq.ParquetFile(f).metadata.num_rows for f in out.glob("*.parquet"))
    shutil.rmtree(folder)
    return run


# --- one size -----------------------------------------------------------------------------------------


@dataclass
class Context:
    runs: int
    keep: bool
    logs: Path  # the stages' output, one file per stage and run
    # Every stage run that finished, in order, as it finished: what a size that fails later still measured.
    finished: list[dict[str, Any]] = field(default_factory=list)

    def record(self, label: str, run: Run) -> None:
        self.finished.append({"stage": label, **asdict(run)})
        print(f"[{label}] {run.wall_s:.1f} s, {run.peak_rss_mb:,.0f} MB", flush=True)


def end_to_end(stages: dict[str, Run]) -> Run:
    return Run(stages["ingest"].wall_s + stages["build"].wall_s, max(s.peak_rss_mb for s in stages.values()))


def measure(inputs: Inputs, build: list[str], folder: Path, ctx: Context, section: str) -> dict[str, Any]:
    """The bare load of ``inputs``, and ``tfm ingest`` then ``tfm <build>`` on them, each repeated."""
    label = f"{section} {size_label(inputs.rows)} {inputs.fmt}"
    ctx.record(f"{label} generate", inputs.generate)

    def bare_run(i: int) -> dict[str, Run]:
        run = bare_load(inputs, folder / f"bare-{i}", ctx.logs, i)
        ctx.record(f"{label}-{i} bare load", run)
        return {"bare": run}

    bare = repeat(ctx.runs, bare_run)
    tfm = repeat(ctx.runs, lambda i: tfm_run(inputs, build, folder / f"tfm-{i}", ctx, f"{label}-{i}"))
    rows = inputs.rows
    result = {
        "section": section,
        "size": size_label(rows),
        "input": inputs.fmt,
        "files_mb": round(inputs.mb, 1),
        "generate": figure(rows, [inputs.generate]),
        "bare_load": figure(rows, [r["bare"] for r in bare]),
        "ingest": figure(rows, [r["ingest"] for r in tfm]),
        "build": figure(rows, [r["build"] for r in tfm]),
        COMBINED[section]: figure(rows, [end_to_end(r) for r in tfm]),
    }
    print_progress(label, result)
    return result


def converter_figure(inputs: Inputs, folder: Path, ctx: Context) -> dict[str, Any]:
    """focus-converter on the legacy CUR rows of ``inputs``, installed first if needed; failures recorded."""
    from orchestration.conformance.focus_converter import ConverterError, ensure_converter

    print(f"[FOCUS {size_label(inputs.rows)}] focus-converter (installing it first if needed)", flush=True)
    try:
        ensure_converter()
    except ConverterError as exc:
        return {"rows": inputs.rows, "error": str(exc).strip().splitlines()[0]}
    csv = converter_csv(inputs, folder)
    runs = [
        r["converter"]
        for r in repeat(ctx.runs, lambda i: {"converter": converter_run(csv, folder / f"conv-{i}")})
    ]
    csv.unlink()
    result = figure(inputs.rows, runs)
    errors = [r.extra["error"] for r in runs if "error" in r.extra]
    if errors:
        result["error"] = errors[0]
    print_progress(f"FOCUS {size_label(inputs.rows)} focus-converter", {"converter": result})
    return result


def focus_comparison(rows: int, folder: Path, ctx: Context) -> list[dict[str, Any]]:
    """Legacy CUR CSV and CUR 2.0 into the FOCUS table, against the bare load and focus-converter."""
    results, converter = [], {}
    for fmt in ("cur-legacy-csv", "cur2"):
        print(f"[FOCUS {size_label(rows)} {fmt}] generating", flush=True)
        inputs = generate(fmt, rows, folder / fmt, ctx.logs)
        results.append(
            measure(inputs, ["build", "--select", "+fct_focus_charges"], folder / fmt, ctx, "FOCUS")
        )
        if fmt == "cur-legacy-csv":
            converter = converter_figure(inputs, folder / fmt, ctx)
    for result in results:  # CUR 2.0 is compared with the converter's run on the same rows as legacy CUR
        result["converter"] = converter
    return results


def scale(rows: int, folder: Path, ctx: Context) -> list[dict[str, Any]]:
    """CUR 2.0 parquet, one month of ``rows`` line items: ingest and the whole build, and the bare load."""
    print(f"[end to end {size_label(rows)}] generating", flush=True)
    return [measure(generate("cur2", rows, folder, ctx.logs), ["build"], folder, ctx, "end to end")]


def print_progress(label: str, result: dict[str, Any]) -> None:
    parts = [
        f"{stage} {result[stage]['wall_s']:.1f} s {result[stage]['peak_rss_mb']:,} MB"
        for stage in STAGES
        if "wall_s" in result.get(stage, {})
    ]
    print(f"[{label}] " + ", ".join(parts), flush=True)


# --- the report ---------------------------------------------------------------------------------------

STAGES = ("generate", "bare_load", "ingest", "build", "tfm_focus", "end_to_end", "converter")
STAGE_NAMES = {"generate": "generate (not in ratios)", "bare_load": "DuckDB bare load", "ingest": "tfm ingest",
               "build": "tfm build", "tfm_focus": "tfm ingest + build FOCUS", "end_to_end": "tfm end to end",
               "converter": "focus-converter (same rows, 1 CSV)"}  # fmt: skip
# The stage the two tfm stages add up to, per section.
COMBINED = {"FOCUS": "tfm_focus", "end to end": "end_to_end"}
# Above this ratio of end-to-end time between two sizes (relative to their ratio of rows) tfm scales badly.
SCALING_TARGET = 1.2


@dataclass
class Ratio:
    """A figure the targets are read from; ``limit`` None for one shown for information."""

    name: str
    value: float | None
    limit: float | None = None
    strict: bool = False  # the target is "< limit" rather than "<= limit"

    @property
    def target(self) -> str:
        return "" if self.limit is None else f"{'<' if self.strict else '<='} {self.limit:g}"

    @property
    def met(self) -> bool | None:
        if self.value is None or self.limit is None:
            return None
        return self.value < self.limit if self.strict else self.value <= self.limit

    def as_dict(self) -> dict[str, Any]:
        value = None if self.value is None else round(self.value, 3)
        return {"name": self.name, "value": value, "target": self.target or None, "met": self.met}


def divide(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
    """``a[key] / b[key]``, or None when either figure is missing or failed."""
    if not a or not b or "error" in a or "error" in b or a.get(key) is None or not b.get(key):
        return None
    return a[key] / b[key]


def ratios(focus: list[dict[str, Any]], sizes: list[dict[str, Any]]) -> list[Ratio]:
    out = []
    for r in focus:
        name = f"FOCUS {r['size']} {r['input']}"
        tfm, bare, converter = r["tfm_focus"], r["bare_load"], r["converter"]
        out.append(Ratio(f"{name}: tfm wall / bare load wall", divide(tfm, bare, "wall_s"), 2))
        out.append(Ratio(f"{name}: tfm peak RSS / converter's", divide(tfm, converter, "peak_rss_mb"), 0.25))
        out.append(Ratio(f"{name}: tfm wall / converter wall", divide(tfm, converter, "wall_s")))
    for r in sizes:
        name = f"end to end {r['size']}"
        out.append(
            Ratio(f"{name}: wall / bare load wall", divide(r["end_to_end"], r["bare_load"], "wall_s"), 6)
        )
        out.append(Ratio(f"{name}: peak RSS GB", r["end_to_end"]["peak_rss_mb"] / 1024, 6, strict=True))
    for small, large in itertools.pairwise(sizes):
        limit = SCALING_TARGET * large["end_to_end"]["rows"] / small["end_to_end"]["rows"]
        name = f"end to end wall {large['size']} / {small['size']}"
        out.append(Ratio(name, divide(large["end_to_end"], small["end_to_end"], "wall_s"), limit))
    return out


def table_rows(results: list[dict[str, Any]]) -> Iterator[list[str]]:
    for r in results:
        for stage in STAGES:
            fig = r.get(stage)
            if not fig:
                continue
            head = [r["section"], r["size"], r["input"], STAGE_NAMES[stage]]
            note = f"failed: {fig['error'][:60]}" if "error" in fig else ""
            if "wall_s" not in fig:
                yield [*head, f"{fig['rows']:,}", "", "", "", "", note]
                continue
            yield [*head, *numbers(fig), note]
            for step, sub in fig.get("steps", {}).items():
                yield ["", "", "", f"  {step}", *numbers(sub), ""]


def numbers(fig: dict[str, Any]) -> list[str]:
    rate = f"{fig['rows_per_s']:,}" if fig.get("rows_per_s") else ""
    return [f"{fig['rows']:,}", f"{fig['wall_s']:.1f}", rate, f"{fig['peak_rss_mb']:,}", str(fig["runs"])]


def markdown(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        padded = (
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def render(report: dict[str, Any]) -> str:
    results = report["focus"] + report["scale"]
    header = ["section", "size", "input", "stage", "rows", "wall s", "rows/s", "peak RSS MB", "runs", "note"]
    stages = markdown(header, list(table_rows(results)), {4, 5, 6, 7, 8})
    found = [[r["name"], "n/a" if r["value"] is None else f"{r['value']:.2f}", r["target"] or "",
              {True: "yes", False: "NO", None: ""}[r["met"]]] for r in report["ratios"]]  # fmt: skip
    env = report["environment"]
    repeats = f"a measurement whose slowest stage takes {REPEAT_UNDER_S:.0f} s or more runs once"
    machine = f"{env['cpus']} CPUs, {env['memory_gb']} GB RAM, DuckDB memory_limit {env['memory_limit']}"
    versions = f"duckdb {env['duckdb']}, dbt-core {env['dbt-core']}, dagster {env['dagster']}"
    load = f"load average {env['load_average']} at the start, {report['load_average_end']} at the end"
    footer = [
        f"{PEAK_DEFINITION}.",
        f"Figures are medians of the runs shown; {repeats}.",
        f"Steps from the Dagster event log; {STARTUP}: before the first step ({BEFORE_STEPS}).",
        f"{OUTSIDE_STEPS.capitalize()}: the rest of a stage's wall time.",
        f"{machine}; {versions}; {report['date']}; {load} (other work on the machine slows every figure).",
    ]
    return "\n\n".join([stages, markdown(["ratio", "value", "target", "met"], found, {1}), "\n".join(footer)])


def environment() -> dict[str, Any]:
    with open("/proc/meminfo") as handle:
        total_kb = int(handle.readline().split()[1])
    commit = subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(total_kb / 1024 / 1024, 1),
        "memory_limit": duckdb_memory_limit(),
        "load_average": round(os.getloadavg()[0], 1),
        "dbt_threads": os.environ.get("TFM_DBT_THREADS", "2"),
        "python": platform.python_version(),
        **{name: version(name) for name in ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "dagster-dbt")},
        "tfm_commit": commit,
    }


@contextmanager
def size_folder(parent: Path | None, rows: int, keep: bool) -> Iterator[Path]:
    """A temporary folder for one size, deleted afterwards unless ``keep`` or a stage failed."""
    folder = Path(tempfile.mkdtemp(prefix=f"tfm-scale-{size_label(rows)}-", dir=parent))
    try:
        yield folder
    except StageError:
        print(f"kept {folder}, for a look at what failed", flush=True)
        raise
    if keep:
        print(f"kept {folder}", flush=True)
    else:
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=size_list, default="1M", help="end-to-end sizes, e.g. 1M,10M,50M")
    parser.add_argument(
        "--focus-sizes", type=size_list, default="1M", help="FOCUS comparison sizes ('' for none)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure taking under a minute")
    parser.add_argument("--out", type=Path, default=Path("bench-results/scale.json"))
    parser.add_argument("--workdir", type=Path, help="where the temporary folders go (default: the system's)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (debugging)")
    parser.add_argument(
        "--logs", type=Path, help="keep every stage's output here (default: with the folders)"
    )
    args = parser.parse_args()

    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["bench/scale.py", *sys.argv[1:]]),
        "environment": environment(),
        "definitions": {"peak_rss_mb": PEAK_DEFINITION, "repeat_under_s": REPEAT_UNDER_S, "period": PERIOD},
        "focus": [],
        "scale": [],
        "ratios": [],
        "load_average_end": None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    jobs = [("focus", rows, focus_comparison) for rows in args.focus_sizes]
    jobs += [("scale", rows, scale) for rows in args.sizes]
    try:
        for section, rows, job in jobs:
            with size_folder(args.workdir, rows, args.keep) as folder:
                logs = args.logs / size_label(rows) if args.logs else folder / "logs"
                ctx = Context(args.runs, args.keep, logs)
                report["failed"] = {"size": size_label(rows), "section": section, "finished_stages": ctx.finished}
                report[section] += job(rows, folder, ctx)
                del report["failed"]
            report["ratios"] = [r.as_dict() for r in ratios(report["focus"], report["scale"])]
            report["load_average_end"] = round(os.getloadavg()[0], 1)
            args.out.write_text(json.dumps(report, indent=2) + "\n")
    except StageError as exc:
        # The stages of the failed size that finished are kept under "failed", with the error.
        report["failed"]["error"] = str(exc)
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
        sys.exit(f"error: {exc}")
    print()
    print(render(report))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
