"""DuckDB beside a local Spark session: one generated CUR 2.0 month built by tfm, then by the same dbt project on Spark.

    .venv/bin/python bench/bench_spark.py --rows 1M --out bench-results/spark.json

Not part of the tests; needs the ``spark`` extra and a Java runtime. Each stage is a separate process started the
way a user starts it, measured by ``bench/scale.py``'s helpers (wall time, peak memory of the whole process tree,
sampled: the JVM of Spark's session included):

1. ``tfm generate`` one month (2026-03, seed 42) of CUR 2.0 parquet;
2. DuckDB: ``tfm ingest`` then ``tfm build`` on a fresh ``TFM_HOME`` (every model and test, the Python models, the
   Great Expectations checks, publish); its FOCUS and raw costs must equal the generator's total to the cent;
3. Spark: ``python -m orchestration.spark build`` on that warehouse: the raw layer exported as parquet by billing
   period and registered, ``dbt build`` of what the Python models read, the Python models on the session, ``dbt
   build`` of the rest, then every public mart compared with DuckDB's (the benchmark stops unless all are equal).
   The Spark build's own steps come from the lines it prints.

Prints one table and writes the figures as JSON (``--out``). The DuckDB figure to set beside Spark's is the build
(Spark starts from the warehouse's raw tables, as ``tfm build`` does); ingest is shown for completeness.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import (  # bench/ is not a package: its folder is on the path above
    Context,
    Run,
    generate,
    parse_size,
    run_process,
    size_label,
    tfm_run,
)

STEP = re.compile(r"^step (.+): ([\d.]+) s$", re.MULTILINE)


def spark_build(warehouse: Path, folder: Path, ctx: Context, label: str) -> Run:
    """``python -m orchestration.spark build`` in its own process; its steps from the lines it prints."""
    log = ctx.logs / f"{label}-spark-build.log"
    command = [sys.executable, "-m", "orchestration.spark", "build", "--warehouse", str(warehouse),
               "--dir", str(folder)]  # fmt: skip
    run, _ = run_process(command, {**os.environ, "PYTHONUNBUFFERED": "1"}, log)
    text = log.read_text(errors="replace")
    run.steps = {name: Run(float(seconds), 0.0) for name, seconds in STEP.findall(text)}
    equal = re.search(r"^(\d+) of (\d+) marts equal", text, re.MULTILINE)
    run.extra = {"marts_equal": equal.group(0) if equal else None,
                 "all_equal": bool(equal) and equal.group(1) == equal.group(2)}  # fmt: skip
    ctx.record(f"{label} spark build", run)
    return run


def table(rows: int, duck: dict[str, Run], spark: Run) -> list[str]:
    lines = [f"{'stage':<36} {'wall s':>9} {'rows/s':>10} {'peak MB':>9}"]

    def line(name: str, run: Run) -> None:
        rate = f"{rows / run.wall_s:,.0f}" if run.wall_s else ""
        peak = f"{run.peak_rss_mb:,.0f}" if run.peak_rss_mb else ""
        lines.append(f"{name:<36} {run.wall_s:>9.1f} {rate:>10} {peak:>9}")

    line("duckdb: tfm ingest", duck["ingest"])
    line("duckdb: tfm build", duck["build"])
    for kind, step in sorted(duck["build"].steps.items()):
        line(f"  {kind}", step)
    line("spark: orchestration.spark build", spark)
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
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--tmp", type=Path, help="where the temporary folders go (default: the system's)")
    options = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="tfm-bench-spark-", dir=options.tmp))
    ctx = Context(runs=1, keep=True, logs=root / "logs")
    label = size_label(options.rows)
    try:
        inputs = generate("cur2", options.rows, root / "inputs", ctx.logs)
        ctx.record(f"{label} generate", inputs.generate)
        duck = tfm_run(inputs, ["build"], root / "duckdb", ctx, f"{label} duckdb")
        spark = spark_build(root / "duckdb" / "home" / "warehouse.duckdb", root / "spark", ctx, label)
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
