"""Incremental refresh by billing period: one more day of the open month, against a full build, twelve months loaded.

    python bench/bench_incremental.py [--months 12] [--rows 250000] [--out incremental.json]

Runs as a user would, each step its own ``tfm`` process on a fresh ``TFM_HOME``: ``tfm generate`` writes twelve
months of CUR 2.0 (seed 42); the landing folder gets them with the last month missing its last day of usage;
``tfm ingest`` and ``tfm build`` (the first, full build); the last month is delivered again with its last day,
``tfm ingest`` and ``tfm build`` (incremental: that month only); then ``tfm build --full-refresh`` (every period
rebuilt, the same work as the first build minus the one-off costs). Prints wall seconds and peak memory (the
largest resident set of the step's processes, sampled every 0.2 s) and checks that the incremental result
equals the full rebuild, row for row, in every incremental model and mart that no Python model feeds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

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


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants, in MB, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1] is the parent's pid
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # fields[21] is rss in pages
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / 1e6


def run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run one command; returns (wall seconds, peak resident MB of its process tree)."""
    started = time.monotonic()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, tree_rss_mb(process.pid))
        time.sleep(0.2)
    wall = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{process.stderr.read()[-3000:]}")
    return wall, peak


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
        run([TFM, "generate", "--out", str(generated), "--format", "cur2", "--months", str(args.months),
             "--rows", str(args.rows), "--seed", "42", "--start", "2025-04"], env)  # fmt: skip
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

        def step(name: str, command: list[str]) -> None:
            wall, peak = run([TFM, *command], env)
            steps.append({"step": name, "wall_s": round(wall, 1), "peak_rss_mb": round(peak)})
            print(f"  {name:<44} {wall:>8.1f} s {peak:>8,.0f} MB", flush=True)

        print(f"\nincremental refresh: {args.months} months x {args.rows:,} CUR 2.0 line items, last month {month}")
        step("ingest, 12 months", ["ingest"])
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
