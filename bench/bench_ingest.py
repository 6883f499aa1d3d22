"""Ingest throughput on a generated CUR 2.0 month.

    python bench/bench_ingest.py --rows 1000000 [--format cur2] [--file-format parquet]

Generates one billing month (deterministic, seed 7) into a temporary folder, then measures the landing scan
(checksum, detection, period read) and the period load (validation + one-transaction replace into
``raw``) on a fresh warehouse, the same code the Dagster raw assets run. Prints a table; checks that the
loaded cost equals the generator's own total, to the cent.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from orchestration.generator import GeneratorConfig, generate
from orchestration.ingest.loader import load_pending, scan_landing
from orchestration.ingest.warehouse import connect, ensure_schema


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", default="cur2", choices=["cur2", "cur-legacy-csv", "focus-1.2"])
    parser.add_argument("--file-format", default="parquet", choices=["parquet", "csv"])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tfm-bench-") as tmp:
        tmp_path = Path(tmp)
        landing = tmp_path / "landing"
        started = time.monotonic()
        summary = generate(
            GeneratorConfig(
                out=tmp_path / "generated", fmt=args.format, months=1, rows=args.rows, seed=7,
                start="2026-03", file_format=args.file_format,
            )
        )
        generate_s = time.monotonic() - started
        (tmp_path / "generated").rename(landing)  # billing files and side inputs; side inputs get rejected
        for side in ("business", "labels", "reference"):
            for path in (landing / side).rglob("*"):
                path.unlink() if path.is_file() else None
        rows = sum(summary.rows_per_period.values())
        size_mb = sum(p.stat().st_size for p in landing.rglob("*") if p.is_file()) / 1e6

        con = connect(tmp_path / "warehouse.duckdb")
        ensure_schema(con)
        started = time.monotonic()
        scan_landing(con, landing)
        scan_s = time.monotonic() - started
        started = time.monotonic()
        _loads, problems = load_pending(con)
        load_s = time.monotonic() - started
        table = {"cur2": "aws_cur2", "cur-legacy-csv": "aws_cur_legacy", "focus-1.2": "focus"}[args.format]
        cost_column = "BilledCost" if table == "focus" else "line_item_unblended_cost"
        loaded_rows, loaded_cost = con.execute(f"SELECT count(*), sum({cost_column}) FROM raw.{table}").fetchone()
        con.close()

    expected_cost = sum(summary.cost_per_period.values())
    print(f"\nIngest benchmark: {args.format} ({args.file_format}), one month, {rows:,} rows, {size_mb:,.1f} MB")
    print(f"{'step':<28} {'seconds':>8} {'rows/s':>12}")
    for step, seconds in (("generate", generate_s), ("scan (checksum, detect)", scan_s),
                          ("load (validate + replace)", load_s), ("scan + load", scan_s + load_s)):
        print(f"{step:<28} {seconds:>8.2f} {rows / seconds:>12,.0f}")
    print(f"peak RSS {peak_rss_mb():,.0f} MB; problems: {problems or 'none'}")
    print(f"rows loaded {loaded_rows:,} (expected {rows:,}); cost loaded {loaded_cost:,.2f}, "
          f"generator total {expected_cost:,.2f}, "
          f"{'equal to the cent' if round(loaded_cost, 2) == round(expected_cost, 2) else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
