"""Incremental refresh by billing period: one more day of the open month, against a full build, twelve months loaded.

    python bench/bench_incremental.py [--months 12] [--rows 250000] [--out incremental.json]

Runs as a user would, each step its own ``tfm`` process on a fresh ``TFM_HOME``: ``tfm generate`` writes twelve
months of CUR 2.0 (seed 42); the landing folder gets them with the last month missing its last day of usage;
``tfm ingest`` and ``tfm build`` (the first, full build); the last month is delivered again with its last day,
``tfm ingest`` and ``tfm build`` (incremental: that month only); then ``tfm build --full-refresh`` (every period
rebuilt, the same work as the first build minus the one-off costs). Prints wall seconds and peak memory (the
resident set of the step's processes, sampled; ``bench/scale.py``'s runner), each build split into its Dagster
steps (startup, dbt build, Python models, checks, publish) and dbt's node time by kind, and checks that the
incremental result equals the full rebuild, row for row, in every incremental model and mart that no Python model feeds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import dagster_runs, run_process, split_steps  # bench/ is a folder of scripts, not a package

TFM = str(Path(sys.executable).with_name("tfm"))
COMPARED = [
    "intermediate.int_aws_cur_charges_mapped_to_focus",
    "intermediate.int_charge_tags_normalized",
    "intermediate.int_charges_owned",
    "marts.fct_focus_charges",
    "marts.fct_cost_allocation",
    "marts.fct_showback_monthly",
    "marts.fct_chargeback_monthly",
    "marts.rpt_masked_tag_values",
]


def dbt_node_seconds(target: Path, since: float) -> dict[str, float]:
    """dbt's own time in the dbt steps that started after ``since``: its elapsed time, and the execution time
    of its nodes summed by kind (models, tests, seeds; two threads run nodes side by side)."""
    out: dict[str, float] = {"elapsed": 0.0}
    for results_file in target.glob("*/run_results.json"):
        if results_file.stat().st_mtime < since:
            continue
        results = json.loads(results_file.read_text())
        out["elapsed"] += results.get("elapsed_time", 0.0)
        for result in results["results"]:
            kind = result["unique_id"].split(".")[0]
            out[kind] = out.get(kind, 0.0) + result["execution_time"]
            out[f"{kind} count"] = out.get(f"{kind} count", 0) + 1
    return out


def snapshot(warehouse: Path) -> dict[str, list]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            table: list(con.execute(f"SELECT count(*), coalesce(bit_xor(hash(t)), 0) FROM {table} t").fetchone())
            for table in COMPARED
        }
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--rows", type=int, default=250_000, help="line items per month")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it, to read dbt's timings")
    args = parser.parse_args()

    if args.keep:
        args.keep.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="tfm-bench-incremental-") as tmp:
        root = args.keep or Path(tmp)
        env = {**os.environ, "TFM_HOME": str(root / "home")}
        for name in ("TFM_LANDING", "DAGSTER_HOME", "TFM_WAREHOUSE_PATH", "DBT_TARGET_PATH"):
            env.pop(name, None)
        generated = root / "generated"
        run_process([TFM, "generate", "--out", str(generated), "--format", "cur2", "--months", str(args.months),
                     "--rows", str(args.rows), "--seed", "42", "--start", "2025-04"], env,
                    root / "logs" / "generate.log")  # fmt: skip
        landing = root / "home" / "landing" / "cur2"
        shutil.copytree(generated / "cur2", landing)
        last = max((landing / "data").iterdir())
        month = last.name.split("=")[-1]
        files = sorted(last.glob("*.parquet"))
        con = duckdb.connect()
        cut = con.execute(
            "SELECT max(line_item_usage_start_date)::DATE FROM read_parquet(?)", [[str(f) for f in files]]
        ).fetchone()[0]
        for file in files:  # the month as delivered the day before: its fees, and every day of usage but the last
            partial = file.with_suffix(".partial")
            con.execute(
                "COPY (SELECT * FROM read_parquet(?) WHERE line_item_line_item_type <> 'Usage' "
                "OR line_item_usage_start_date < ?) TO '" + str(partial).replace("'", "''") + "' (FORMAT parquet)",
                [str(file), cut],
            )
            shutil.move(file, root / file.name)
            partial.rename(file)
        con.close()
        rows = args.months * args.rows
        steps: list[dict] = []

        home = root / "home"

        def step(name: str, command: list[str]) -> None:
            before, since = dagster_runs(home), time.time()
            result, sampler = run_process([TFM, *command], env, root / "logs" / f"{len(steps)}.log")
            split_steps(result, sampler, dagster_runs(home) - before)
            dbt = dbt_node_seconds(home / "dbt" / "target", since)
            steps.append({
                "step": name, "wall_s": round(result.wall_s, 1), "peak_rss_mb": round(result.peak_rss_mb),
                "steps": {k: round(v.wall_s, 1) for k, v in result.steps.items()},
                "dbt": {k: round(v, 1) for k, v in dbt.items()},
            })  # fmt: skip
            print(f"  {name:<44} {result.wall_s:>8.1f} s {result.peak_rss_mb:>8,.0f} MB", flush=True)
            if result.steps:
                print("      " + " | ".join(f"{k} {v.wall_s:.1f} s" for k, v in result.steps.items()))
            if dbt["elapsed"]:
                nodes = ", ".join(
                    f"{kind}s {dbt[kind]:.1f} s ({dbt[kind + ' count']:.0f})"
                    for kind in ("model", "test", "unit_test", "seed")
                    if kind in dbt
                )
                print(f"      dbt: elapsed {dbt['elapsed']:.1f} s; node time summed: {nodes}")

        print(f"\nincremental refresh: {args.months} months x {args.rows:,} CUR 2.0 line items, last month {month}")
        step(f"ingest, {args.months} months", ["ingest"])
        step("build, first (full)", ["build"])
        for file in files:
            shutil.copy2(root / file.name, file)
        step(f"ingest, {month} again with its last day", ["ingest"])
        step(f"build, incremental ({month} only)", ["build"])
        incremental = snapshot(root / "home" / "warehouse.duckdb")
        step("build --full-refresh", ["build", "--full-refresh"])
        full = snapshot(root / "home" / "warehouse.duckdb")

    same = incremental == full
    incremental_s = steps[3]["wall_s"]
    full_s = steps[4]["wall_s"]
    print(f"\nincremental build / full rebuild: {incremental_s / full_s:.2f} (target <= 0.25)")
    print(f"incremental result equals the full rebuild, row for row: {'yes' if same else 'NO'}")
    if args.out:
        args.out.write_text(json.dumps({
            "months": args.months, "rows_per_month": args.rows, "rows": rows, "steps": steps,
            "incremental_over_full": round(incremental_s / full_s, 3), "equal_to_full_rebuild": same,
            "tables": {t: {"incremental": incremental[t], "full": full[t]} for t in COMPARED},
            "cpus": os.cpu_count(), "duckdb": duckdb.__version__,
        }, indent=2, default=str))  # fmt: skip
    if not same:
        raise SystemExit("the incremental build differs from the full rebuild")


if __name__ == "__main__":
    main()
