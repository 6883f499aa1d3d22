"""DuckDB beside a local Spark session: one generated CUR 2.0 month built by tfm, then by the same dbt project on Spark.

    .venv/bin/python bench/bench_spark.py --rows 1M --out bench-results/spark.json
    .venv/bin/python bench/bench_spark.py --demo --out bench-results/spark-demo.json

Not part of the tests; needs the ``spark`` extra and a Java runtime. Each stage is a separate process started the
way a user starts it, measured by ``bench/scale.py``'s helpers (wall time, peak memory of the whole process tree,
sampled: the JVM of Spark's session included):

1. ``tfm generate`` one month (2026-03, seed 42) of CUR 2.0 parquet;
2. DuckDB: ``tfm ingest`` then ``tfm build`` on a fresh ``TFM_HOME`` (every model and test, the Python models, the
   Great Expectations checks, publish); its FOCUS and raw costs must equal the generator's total to the cent;
3. Spark: ``tfm spark build --compare`` on that ``TFM_HOME``: the raw layer exported as parquet by billing
   period and registered, ``dbt build`` of what the Python models read, the Python models on the session, ``dbt
   build`` of the rest, the marts' Great Expectations suites on Spark, then every public mart compared with
   DuckDB's (the benchmark stops unless the build passed and all are equal). The Spark build's own steps come
   from the lines it prints.

With ``--demo``, steps 1-2 are ``tfm demo`` (the bundled samples and the generated quarter: ingest, build, close)
then ``tfm build --full-refresh`` (the whole DuckDB build again, measured), and step 3 runs on that warehouse.

Prints one table and writes the figures as JSON (``--out``). The DuckDB figure to set beside Spark's is the build
(Spark starts from the warehouse's raw tables, as ``tfm build`` does); ingest is shown for completeness.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb
from scale import (  # bench/ is not a package: its folder is on the path above
    TFM,
    Context,
    Run,
    StageError,
    dagster_runs,
    generate,
    parse_size,
    run_process,
    size_label,
    split_steps,
    tfm_env,
    tfm_run,
)

STEP = re.compile(r"^step (.+): ([\d.]+) s$", re.MULTILINE)


def spark_build(home: Path, ctx: Context, label: str) -> Run:
    """``tfm spark build --compare`` on ``home`` in its own process; its steps from the lines it prints."""
    log = ctx.logs / f"{label}-spark-build.log"
    try:
        run, _ = run_process(
            [TFM, "spark", "build", "--compare"], {**tfm_env(home), "PYTHONUNBUFFERED": "1"}, log
        )
    except StageError as exc:
        raise SystemExit(f"tfm spark build failed: {exc} (log {log})") from exc
    text = log.read_text(errors="replace")
    run.steps = {name: Run(float(seconds), 0.0) for name, seconds in STEP.findall(text)}
    equal = re.search(r"^(\d+) of (\d+) marts equal", text, re.MULTILINE)
    run.extra = {"marts_equal": equal.group(0) if equal else None,
                 "all_equal": bool(equal) and equal.group(1) == equal.group(2)}  # fmt: skip
    ctx.record(f"{label} spark build", run)
    return run


def demo_run(folder: Path, ctx: Context) -> tuple[dict[str, Run], int]:
    """``tfm demo`` then ``tfm build --full-refresh`` on a fresh TFM_HOME; the runs and the FOCUS rows built."""
    home = folder / "home"
    env = tfm_env(home)
    stages: dict[str, Run] = {}
    for stage, command in (("demo", [TFM, "demo"]), ("build", [TFM, "build", "--full-refresh"])):
        before = dagster_runs(home)
        run, sampler = run_process(command, env, ctx.logs / f"demo duckdb-{stage}.log")
        split_steps(run, sampler, dagster_runs(home) - before)
        stages[stage] = run
        ctx.record(f"demo duckdb {stage}", run)
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("select count(*) from marts.fct_focus_charges").fetchone()[0]
    finally:
        con.close()
    return stages, rows


def table(rows: int, duck: dict[str, Run], spark: Run) -> list[str]:
    lines = [f"{'stage':<36} {'wall s':>9} {'rows/s':>10} {'peak MB':>9}"]

    def line(name: str, run: Run) -> None:
        rate = f"{rows / run.wall_s:,.0f}" if run.wall_s else ""
        peak = f"{run.peak_rss_mb:,.0f}" if run.peak_rss_mb else ""
        lines.append(f"{name:<36} {run.wall_s:>9.1f} {rate:>10} {peak:>9}")

    if "ingest" in duck:
        line("duckdb: tfm ingest", duck["ingest"])
    else:
        line("duckdb: tfm demo (ingest, build, close)", duck["demo"])
    line("duckdb: tfm build" + ("" if "ingest" in duck else " --full-refresh"), duck["build"])
    for kind, step in sorted(duck["build"].steps.items()):
        line(f"  {kind}", step)
    line("spark: tfm spark build --compare", spark)
    for name, step in spark.steps.items():
        line(f"  {name}", step)
    lines.append(f"spark / duckdb build: {spark.wall_s / duck['build'].wall_s:.2f}x wall; "
                 f"{spark.peak_rss_mb / duck['build'].peak_rss_mb:.2f}x peak memory")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=parse_size, default=parse_size("1M"), help="line items (e.g. 200k, 1M, 10M)"
    )
    parser.add_argument(
        "--demo", action="store_true", help="the demo's warehouse instead of a generated month"
    )
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--tmp", type=Path, help="where the temporary folders go (default: the system's)")
    options = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="tfm-bench-spark-", dir=options.tmp))
    ctx = Context(runs=1, keep=True, logs=root / "logs")
    label = "demo" if options.demo else size_label(options.rows)
    try:
        if options.demo:
            duck, options.rows = demo_run(root / "duckdb", ctx)
        else:
            inputs = generate("cur2", options.rows, root / "inputs", ctx.logs)
            ctx.record(f"{label} generate", inputs.generate)
            duck = tfm_run(inputs, ["build"], root / "duckdb", ctx, f"{label} duckdb")
        spark = spark_build(root / "duckdb" / "home", ctx, label)
        if not spark.extra["all_equal"]:
            raise SystemExit(
                f"the marts differ on the two engines: {spark.extra['marts_equal']} (log {ctx.logs})"
            )
        print("\n".join(table(options.rows, duck, spark)))
        if options.out:
            options.out.parent.mkdir(parents=True, exist_ok=True)
            figures = {"rows": options.rows, "duckdb": {k: asdict(v) for k, v in duck.items()},
                       "spark": asdict(spark), "finished": ctx.finished}  # fmt: skip
            options.out.write_text(json.dumps(figures, indent=2, default=str))
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
