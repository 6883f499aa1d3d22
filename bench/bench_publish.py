"""How long publishing takes, and what a reader waits, on a built warehouse (``TFM_HOME``, e.g. after ``tfm demo``).

Compares the two ways to give readers a published state beside the writer:

- ``file copy``: the warehouse checkpointed and copied whole, then renamed over ``published.duckdb`` (what tfm
  does, ``orchestration.publish``);
- ``rewrite``: the public schemas (marts, meta, closed_versions) rewritten table by table into a new database
  file through ``ATTACH`` and ``CREATE TABLE AS``;

and measures a reader opening ``published.duckdb`` and summing a mart while another process holds the
warehouse's write lock (the situation of every build and close). Prints one table.

    TFM_HOME=.tfm python bench/bench_publish.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from orchestration.quoting import q
from orchestration.settings import Settings

HOLD = (
    "import sys, duckdb; c = duckdb.connect(sys.argv[1]); c.execute('BEGIN'); print('ready', flush=True); "
    "sys.stdin.read(); c.close()"
)


def _file_copy(warehouse: Path, target: Path) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("CHECKPOINT")
        shutil.copyfile(warehouse, target)
    finally:
        con.close()


def _rewrite(warehouse: Path, target: Path) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"ATTACH '{target}' AS pub")
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_type = 'BASE TABLE' AND table_schema IN ('marts', 'meta', 'closed_versions')"
        ).fetchall()
        for schema in {s for s, _ in tables}:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS pub.{q(schema)}")
        for schema, table in tables:
            con.execute(f"CREATE TABLE pub.{q(schema)}.{q(table)} AS FROM {q(schema)}.{q(table)}")
        con.execute("DETACH pub")
    finally:
        con.close()


def _timed(step, runs: int) -> float:
    seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(dir=Settings.from_env().home) as folder:
            target = Path(folder) / "published.duckdb"
            started = time.perf_counter()
            step(Settings.from_env().warehouse, target)
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _reader(published: Path, runs: int) -> tuple[float, float]:
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        con = duckdb.connect(str(published), read_only=True)
        con.execute("SELECT sum(EffectiveCost) FROM marts.fct_focus_charges").fetchone()
        con.close()
        latencies.append(time.perf_counter() - started)
    return statistics.median(latencies), max(latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = Settings.from_env()
    if not settings.published.exists():
        print(f"no published warehouse in {settings.home}: run 'tfm demo' first", file=sys.stderr)
        return 1
    size = settings.warehouse.stat().st_size
    charges = duckdb.connect(str(settings.published), read_only=True)
    rows = charges.execute("SELECT count(*) FROM marts.fct_focus_charges").fetchone()[0]
    charges.close()
    copy = _timed(_file_copy, args.runs)
    rewrite = _timed(_rewrite, args.runs)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(settings.warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        median, worst = _reader(settings.published, args.runs * 4)
    finally:
        holder.stdin.close()
        holder.wait()
    print(f"warehouse {size / 1e6:,.0f} MB, {rows:,} FOCUS charges, median of {args.runs} runs, {os.cpu_count()} cores")
    print()
    print("| step | seconds |")
    print("|---|---|")
    print(f"| publish: checkpoint + file copy (tfm) | {copy:.2f} |")
    print(f"| publish alternative: rewrite marts, meta, closed_versions into a new file | {rewrite:.2f} |")
    print(f"| reader: open published.duckdb + sum a mart, writer holding the warehouse (median) | {median:.3f} |")
    print(f"| reader: the same, slowest of {args.runs * 4} | {worst:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
