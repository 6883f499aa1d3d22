"""dbt build time on a generated CUR 2.0 quarter, per layer and per model.

    python bench/bench_build.py --rows 100000 [--months 3] [--threads 2]

Generates a quarter (seed 42, the demo's accounts and tags) into a temporary folder, ingests it with the
code the Dagster raw assets run, then runs ``dbt build`` (seeds, models, data and unit tests) on that
warehouse and reads dbt's run_results.json. Prints the time per layer and the slowest nodes, and checks
that the FOCUS table and the allocation mart each hold the raw cost, to the cent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from orchestration.generator import GeneratorConfig, generate
from orchestration.ingest.loader import load_pending, scan_landing
from orchestration.ingest.warehouse import connect, ensure_schema
from orchestration.settings import REPO_ROOT


def layer(unique_id: str, path: str) -> str:
    kind = unique_id.split(".")[0]
    if kind in ("test", "unit_test", "seed"):
        return {"test": "data tests", "unit_test": "unit tests", "seed": "seeds"}[kind]
    return path.split("/")[0]  # staging, intermediate, marts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="line items per month")
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tfm-bench-build-") as tmp:
        tmp_path = Path(tmp)
        landing = tmp_path / "landing"
        generate(GeneratorConfig(out=tmp_path / "generated", fmt="cur2", months=args.months, rows=args.rows,
                                 seed=42, start="2026-01"))
        (tmp_path / "generated" / "cur2").rename(landing)
        warehouse = tmp_path / "warehouse.duckdb"
        con = connect(warehouse)
        ensure_schema(con)
        started = time.monotonic()
        scan_landing(con, landing)
        load_pending(con)
        ingest_s = time.monotonic() - started
        rows, raw_cost = con.execute("SELECT count(*), sum(line_item_unblended_cost) FROM raw.aws_cur2").fetchone()
        con.close()

        target = tmp_path / "target"
        env = {**os.environ, "TFM_WAREHOUSE_PATH": str(warehouse), "TFM_DBT_THREADS": str(args.threads)}
        dbt = str(Path(sys.executable).with_name("dbt"))
        started = time.monotonic()
        subprocess.run(
            [dbt, "build", "--project-dir", str(REPO_ROOT / "dbt_project"), "--profiles-dir", str(REPO_ROOT),
             "--target-path", str(target), "--log-path", str(tmp_path / "logs"), "--quiet"],
            env=env, check=True,
        )
        build_s = time.monotonic() - started
        results = json.loads((target / "run_results.json").read_text())["results"]
        manifest = json.loads((target / "manifest.json").read_text())
        nodes = {**manifest["nodes"], **manifest.get("unit_tests", {})}

        con = connect(warehouse, read_only=True)
        focus_billed = con.execute("SELECT sum(BilledCost) FROM marts.fct_focus_charges").fetchone()[0]
        allocated = con.execute("SELECT sum(billed_cost) FROM marts.fct_cost_allocation").fetchone()[0]
        con.close()

    per_layer: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for result in results:
        node = nodes.get(result["unique_id"], {})
        name = layer(result["unique_id"], node.get("path", "other/"))
        per_layer[name][0] += result["execution_time"]
        per_layer[name][1] += 1
    print(f"\ndbt build benchmark: generated CUR 2.0, {args.months} months, {rows:,} line items, "
          f"{args.threads} threads")
    print(f"{'step':<22} {'nodes':>6} {'seconds':>9}")
    print(f"{'ingest (scan + load)':<22} {'':>6} {ingest_s:>9.1f}")
    for name, (seconds, count) in sorted(per_layer.items(), key=lambda item: -item[1][0]):
        print(f"{name:<22} {count:>6} {seconds:>9.1f}")
    print(f"{'dbt build, wall':<22} {len(results):>6} {build_s:>9.1f}   ({rows / build_s:,.0f} line items/s)")
    print("\nslowest nodes")
    for result in sorted(results, key=lambda r: -r["execution_time"])[:10]:
        print(f"  {result['execution_time']:>7.2f} s  {result['unique_id'].split('.', 2)[-1]}")
    same = round(focus_billed, 2) == round(raw_cost, 2) == round(allocated, 2)
    print(f"\nraw {raw_cost:,.2f} = FOCUS billed {focus_billed:,.2f} = allocated billed {allocated:,.2f}: "
          f"{'equal to the cent' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
