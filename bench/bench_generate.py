"""Benchmark the synthetic billing generator.

Generates one billing period of ``--rows`` line items per format into a temporary directory, each in a
fresh process (so peak RSS is per format), and prints format, rows, seconds, rows/s, peak RSS and bytes
on disk.

    python bench/bench_generate.py                       # 1,000,000 rows of cur2 parquet
    python bench/bench_generate.py --rows 200000 --all   # every format and container
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "cur2": ("cur2", "parquet"),
    "cur2-csv": ("cur2", "csv"),
    "cur-legacy-csv": ("cur-legacy-csv", "csv"),
    "focus-1.2": ("focus-1.2", "parquet"),
    "focus-1.2-csv": ("focus-1.2", "csv"),
}


def run_one(case: str, rows: int, out: Path) -> dict[str, object]:
    """Generate one case in this process and measure it."""
    from orchestration.generator import GeneratorConfig, generate

    fmt, container = CASES[case]
    config = GeneratorConfig(out=out, fmt=fmt, file_format=container, rows=rows, months=1, seed=42)
    start = time.perf_counter()
    summary = generate(config)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = sum(f.stat().st_size for f in summary.data_files)
    return {
        "case": case,
        "rows": summary.total_rows,
        "seconds": seconds,
        "peak_rss_mib": peak_kib / 1024,
        "bytes": size,
        "files": len(summary.data_files),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="line items of the billing period")
    parser.add_argument("--cases", nargs="*", choices=sorted(CASES), default=["cur2"])
    parser.add_argument("--all", action="store_true", help="run every format and container")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.rows, Path(args.out))))
        return 0
    cases = sorted(CASES, key=list(CASES).index) if args.all else args.cases
    results = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="tfm-bench-") as tmp:
            proc = subprocess.run(
                [sys.executable, __file__, "--one", case, "--rows", str(args.rows), "--out", tmp],
                check=True,
                capture_output=True,
                text=True,
            )
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    header = (
        f"{'format':<16}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak RSS':>12}{'on disk':>12}{'files':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['case']:<16}{r['rows']:>12,}{r['seconds']:>10.2f}{r['rows'] / r['seconds']:>12,.0f}"
            f"{r['peak_rss_mib']:>9.0f} MiB{r['bytes'] / 2**20:>8.1f} MiB{r['files']:>7}"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
