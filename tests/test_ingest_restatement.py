"""A restated billing period replaces the old rows as a whole; it never adds to them."""

from __future__ import annotations

import os
from datetime import date

from orchestration.ingest.loader import load_pending, scan_landing
from tests.conftest import FOCUS_CSV, LEGACY_CSV, put


def _restate(target, keep_rows: int) -> None:
    """Rewrite a CSV with only its first rows, as a provider's restatement would change the file."""
    lines = LEGACY_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    target.write_text("".join(lines[: keep_rows + 1]), encoding="utf-8")
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_restated_file_replaces_its_period(con, landing):
    target = put(landing, LEGACY_CSV, "cur/20231101-20231201/report-00001.csv")
    put(landing, FOCUS_CSV)
    scan_landing(con, landing)
    load_pending(con)
    focus_before = con.execute("SELECT count(*), sum(BilledCost) FROM raw.focus").fetchone()

    _restate(target, keep_rows=1000)
    report = scan_landing(con, landing)
    assert len(report.changed) == 1
    loads, problems = load_pending(con)
    assert problems == []
    assert [(load.family, load.period, load.rows, load.replaced_rows) for load in loads] == [
        ("aws_cur_legacy", date(2023, 11, 1), 1000, 1281)
    ]
    rows, distinct_rows, checksums = con.execute(
        "SELECT count(*), count(DISTINCT _source_row), count(DISTINCT _file_checksum) FROM raw.aws_cur_legacy"
    ).fetchone()
    assert rows == distinct_rows == 1000 and checksums == 1
    # Other sources and periods are untouched.
    assert con.execute("SELECT count(*), sum(BilledCost) FROM raw.focus").fetchone() == focus_before
    ledger = con.execute("SELECT row_count FROM meta.file_ledger WHERE source_family = 'aws_cur_legacy'").fetchall()
    assert ledger == [(1000,)]
    audit = con.execute(
        "SELECT row_count, replaced_row_count FROM meta.period_loads WHERE source_family = 'aws_cur_legacy' "
        "ORDER BY loaded_at"
    ).fetchall()
    assert audit == [(1281, 0), (1000, 1281)]


def test_a_period_of_several_files_is_replaced_together(con, landing):
    first = put(landing, LEGACY_CSV, "cur/part-1.csv")
    lines = LEGACY_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    second = landing / "cur" / "part-2.csv"
    second.write_text("".join(lines[:101]), encoding="utf-8")
    scan_landing(con, landing)
    load_pending(con)
    assert con.execute("SELECT count(*) FROM raw.aws_cur_legacy").fetchone()[0] == 1281 + 100

    # The provider drops a chunk of the period: its rows go, the other file's stay.
    second.unlink()
    report = scan_landing(con, landing)
    assert report.removed == [str(second.resolve())]
    loads, problems = load_pending(con)
    assert problems == [] and [load.rows for load in loads] == [1281]
    assert con.execute("SELECT list(DISTINCT _source_file) FROM raw.aws_cur_legacy").fetchone()[0] == [
        str(first.resolve())
    ]


def _legacy_delivery(landing, assembly: str, keep_rows: int):
    """A legacy CUR delivery: <report>/<yyyymmdd-yyyymmdd>/<assemblyId>/<report>-1.csv and its manifest."""
    import json

    period_dir = landing / "cur" / "report" / "20231101-20231201"
    data = period_dir / assembly / "report-1.csv"
    data.parent.mkdir(parents=True, exist_ok=True)
    lines = LEGACY_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    data.write_text("".join(lines[: keep_rows + 1]), encoding="utf-8")
    manifest = period_dir / "report-Manifest.json"
    manifest.write_text(
        json.dumps({"assemblyId": assembly, "reportKeys": [f"cur/report/20231101-20231201/{assembly}/report-1.csv"]})
    )
    return data


def test_a_newer_legacy_delivery_supersedes_the_older_assembly(con, landing):
    _legacy_delivery(landing, "aaaa-1111", keep_rows=1281)
    scan_landing(con, landing)
    load_pending(con)
    assert con.execute("SELECT count(*) FROM raw.aws_cur_legacy").fetchone()[0] == 1281

    # AWS restates the month into a new assembly folder; the old one stays where it was.
    newer = _legacy_delivery(landing, "bbbb-2222", keep_rows=900)
    scan_landing(con, landing)
    loads, problems = load_pending(con)
    assert problems == [] and [(load.rows, load.replaced_rows) for load in loads] == [(900, 1281)]
    assert con.execute("SELECT list(DISTINCT _source_file) FROM raw.aws_cur_legacy").fetchone()[0] == [
        str(newer.resolve())
    ]
    status = dict(con.execute("SELECT status, count(*) FROM meta.landing_files GROUP BY 1").fetchall())
    assert status == {"ready": 1, "superseded": 1}
