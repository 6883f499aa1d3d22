"""The monthly close, end to end: write, audit, publish, on a generated quarter with its invoices.

One warehouse for the module (tests run in order, on one worker): the first close succeeds while analysts
read in a loop, a close against a wrong invoice fails and publishes nothing, re-closing keeps the earlier
version, a provider restating a closed month leaves the closed numbers alone, and a build stopped by a failing
dbt test publishes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from orchestration.cli import main, run_build, run_ingest
from tests.conftest import tfm_environment

MONTHS = ("2026-01", "2026-02", "2026-03")


def _published(settings, sql: str, params=()) -> list:
    con = duckdb.connect(str(settings.published), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _warehouse(settings, sql: str, params=()) -> list:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tfm(*args: str):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def quarter(tmp_path_factory):
    """A generated CUR 2.0 quarter and its business files (invoices...) landed, ingested and built."""
    from orchestration.generator import GeneratorConfig, generate

    root = tmp_path_factory.mktemp("close")
    out = root / "generated"
    summary = generate(
        GeneratorConfig(out=out, fmt="cur2", months=3, rows=2_000, seed=11, start="2026-01", file_format="parquet")
    )
    with tfm_environment(root / "tfm") as settings:
        exports = {Path(f).relative_to(out).parts[0] for f in summary.data_files + summary.manifest_files}
        for folder in [*exports, "business"]:
            shutil.copytree(out / folder, settings.landing / folder)
        assert run_ingest(settings) == []
        assert run_build(settings) == []
        assert settings.published.exists()
        yield settings


def _reader_loop(settings, stop: Path, results: Path) -> subprocess.Popen:
    """Another process reading the published warehouse as an analyst does, in a loop, until ``stop`` exists."""
    code = f"""
import json, time, pathlib
from orchestration.analyst import connect_readonly
stop, out, reads = pathlib.Path({str(stop)!r}), pathlib.Path({str(results)!r}), []
while not stop.exists():
    started = time.monotonic()
    try:
        con = connect_readonly(pathlib.Path({str(settings.published)!r}), wait_seconds=0)
        try:
            focus, showback, closed = con.execute(
                "SELECT (SELECT sum(EffectiveCost) FROM marts.fct_focus_charges), "
                "(SELECT sum(total_cost) FROM marts.fct_showback_monthly), "
                "(SELECT count(*) FROM meta.period_closes)"
            ).fetchone()
        finally:
            con.close()
        reads.append({{"ok": True, "focus": str(focus), "showback": str(showback), "closes": closed,
                       "seconds": time.monotonic() - started}})
    except Exception as exc:
        reads.append({{"ok": False, "error": str(exc), "seconds": time.monotonic() - started}})
    time.sleep(0.05)
out.write_text(json.dumps(reads))
"""
    return subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))


def test_a_close_freezes_the_period_while_readers_read_whole_versions(quarter, tmp_path):
    settings = quarter
    stop, results = tmp_path / "stop", tmp_path / "reads.json"
    reader = _reader_loop(settings, stop, results)
    try:
        time.sleep(1.0)
        code, output = _tfm("close", "--period", "2026-01", "--by", "finance")
    finally:
        stop.touch()
        reader.wait(timeout=60)
    assert code == 0, output
    assert "closed 2026-01 as version 1" in output

    reads = json.loads(results.read_text())
    assert len(reads) >= 20, "the readers hardly ran during the close"
    assert [r for r in reads if not r["ok"]] == [], "a reader failed or waited during the close"
    assert max(r["seconds"] for r in reads) < 5
    # Every read saw one whole published state: the marts agree with each other in each of them.
    assert all(r["focus"] == r["showback"] for r in reads)
    assert {r["closes"] for r in reads} <= {0, 1} and reads[-1]["closes"] == 1

    report = settings.close_reports / "2026-01" / "close-v1.md"
    assert report.exists() and report.with_suffix(".html").exists()
    text = report.read_text()
    for check in ("invoice_reconciliation", "allocation_conserves", "days_complete", "sources_present", "dbt_tests"):
        assert f"| {check} |" in text
    assert "## Totals per team" in text and "fct_focus_charges" in text

    closed = _published(
        settings,
        "SELECT close_version, closed_at IS NOT NULL, count(*), sum(total_cost) FROM closed.fct_showback_monthly "
        "GROUP BY ALL",
    )
    live = _published(
        settings, "SELECT sum(total_cost) FROM marts.fct_showback_monthly WHERE billing_period_start = '2026-01-01'"
    )
    assert closed == [(1, True, closed[0][2], live[0][0])]
    assert _published(settings, "SELECT billing_period::VARCHAR, close_version, closed_by FROM meta.period_closes") == [
        ("2026-01-01", 1, "finance")
    ]
    # tfm sql sees the closed schema (it reads the published file).
    code, output = _tfm("sql", "SELECT count(*) AS n FROM closed.fct_focus_charges", "--format", "csv")
    assert code == 0 and output.strip().splitlines()[-1] == str(
        _warehouse(settings, "SELECT count(*) FROM marts.fct_focus_charges WHERE x_billing_period = '2026-01-01'")[0][0]
    )


def _invoice_file(settings) -> Path:
    return settings.landing / "business" / "invoices.csv"


def test_a_close_against_a_wrong_invoice_fails_and_publishes_nothing(quarter):
    settings = quarter
    invoices = _invoice_file(settings)
    original = invoices.read_text()
    lines = original.splitlines()
    header = lines[0].split(",")
    total, period = header.index("total"), header.index("billing_period")
    changed = []
    for line in lines[1:]:
        cells = line.split(",")
        if cells[period] == "2026-02":
            cells[total] = str(Decimal(cells[total]) + Decimal("5.00"))
        changed.append(",".join(cells))
    invoices.write_text("\n".join([lines[0], *changed]) + "\n")
    try:
        assert run_ingest(settings) == []
        before = _digest(settings.published)
        code, output = _tfm("close", "--period", "2026-02")
        assert code == 1
        assert "2026-02 was not closed" in output and "invoice_reconciliation" in output
        assert _digest(settings.published) == before, "a failed close changed the published warehouse"
        assert _warehouse(settings, "SELECT count(*) FROM meta.period_closes WHERE billing_period = '2026-02-01'") == [(0,)]
        assert _warehouse(settings, "SELECT count(*) FROM closed_versions.fct_showback_monthly "
                          "WHERE billing_period_start = '2026-02-01'") == [(0,)]  # fmt: skip
        reports = sorted((settings.close_reports / "2026-02").glob("failed-*.md"))
        assert len(reports) == 1 and reports[0].with_suffix(".html").exists()
        text = reports[0].read_text()
        assert "**Not closed.**" in text
        row = next(line for line in text.splitlines() if line.startswith("| invoice_reconciliation |"))
        assert "**FAIL**" in row and "0 of 1 invoice(s) match" in row and "<= 0.01" in row
        # The offending invoice, with its total and the billed cost beside it.
        assert "### invoice_reconciliation: fail" in text and "-5.00" in text
    finally:
        invoices.write_text(original)
        assert run_ingest(settings) == []


def test_closing_again_makes_a_new_version_and_keeps_the_old(quarter):
    settings = quarter
    code, output = _tfm("close", "--period", "2026-01", "--period", "2026-02")
    assert code == 0, output
    assert "closed 2026-01 as version 2" in output and "closed 2026-02 as version 1" in output
    versions = _published(
        settings,
        "SELECT billing_period_start::VARCHAR, close_version, count(*) FROM closed_versions.fct_showback_monthly "
        "GROUP BY ALL ORDER BY 1, 2",
    )
    teams = versions[0][2]
    assert versions == [("2026-01-01", 1, teams), ("2026-01-01", 2, teams), ("2026-02-01", 1, versions[2][2])]
    latest = _published(
        settings, "SELECT billing_period_start::VARCHAR, close_version FROM closed.fct_showback_monthly GROUP BY ALL ORDER BY 1"
    )
    assert latest == [("2026-01-01", 2), ("2026-02-01", 1)]
    # Nothing changed in between: both versions of January froze the same content.
    manifest = _published(
        settings,
        "SELECT table_name, count(DISTINCT checksum), count(*) FROM meta.close_manifest "
        "WHERE billing_period = '2026-01-01' GROUP BY ALL",
    )
    assert manifest and all(distinct == 1 and n == 2 for _, distinct, n in manifest)
    text = (settings.close_reports / "2026-01" / "close-v2.md").read_text()
    assert "difference_from_previous_version" in text


def _restate_one_line(path: Path, amount: float) -> None:
    """Rewrite a CUR 2.0 parquet file with one usage line item's cost raised by ``amount``."""
    temporary = path.with_name("restated.tmp")
    con = duckdb.connect()
    try:
        target = con.execute(
            "SELECT identity_line_item_id FROM read_parquet(?) WHERE line_item_line_item_type = 'Usage' "
            "ORDER BY line_item_unblended_cost DESC LIMIT 1",
            [str(path)],
        ).fetchone()[0]
        con.execute(
            "COPY (SELECT * REPLACE (CASE WHEN identity_line_item_id = $1 THEN line_item_unblended_cost + $2 "
            "ELSE line_item_unblended_cost END AS line_item_unblended_cost, CASE WHEN identity_line_item_id = $1 "
            "THEN line_item_net_unblended_cost + $2 ELSE line_item_net_unblended_cost END AS line_item_net_unblended_cost) "
            f"FROM read_parquet($3)) TO '{temporary}' (FORMAT parquet)",
            [target, amount, str(path)],
        )
    finally:
        con.close()
    os.replace(temporary, path)


def test_a_restated_closed_month_keeps_its_closed_numbers_until_closed_again(quarter):
    settings = quarter
    bill = next((settings.landing / "cur2").rglob("BILLING_PERIOD=2026-02/*.parquet"))
    closed_before = _published(
        settings, "SELECT sum(BilledCost) FROM closed.fct_focus_charges WHERE x_billing_period = '2026-02-01'"
    )[0][0]
    _restate_one_line(bill, 10.0)
    assert run_ingest(settings) == []
    restated = _warehouse(
        settings,
        "SELECT source_family, close_version, new_billed_cost - previous_billed_cost FROM meta.period_restatements "
        "WHERE billing_period = '2026-02-01'",
    )
    assert len(restated) == 1 and restated[0][:2] == ("aws_cur2", 1)
    assert abs(restated[0][2] - Decimal(10)) < Decimal("0.000001")

    assert run_build(settings) == []
    status = _published(
        settings,
        "SELECT restated_since_close, closed_billed_cost, billed_cost_difference FROM closed.period_status "
        "WHERE billing_period = '2026-02-01'",
    )
    assert status[0][0] is True and status[0][1] == closed_before
    assert abs(status[0][2] - Decimal(10)) < Decimal("0.000001")
    # The closed numbers did not move; the live marts carry the restated bill.
    assert _published(
        settings, "SELECT sum(BilledCost) FROM closed.fct_focus_charges WHERE x_billing_period = '2026-02-01'"
    )[0][0] == closed_before
    report = settings.close_reports / "2026-02" / "restated.md"
    assert report.exists() and "was restated after its close" in report.read_text()
    # January was not restated.
    assert _published(
        settings, "SELECT restated_since_close FROM closed.period_status WHERE billing_period = '2026-01-01'"
    ) == [(False,)]


def _frozen(settings, period: str) -> dict[str, int]:
    """Rows of ``period`` in every closed_versions table, and its close versions."""
    from orchestration.close import CLOSED_MARTS

    archived = {name for (name,) in _warehouse(
        settings, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'closed_versions'"
    )}  # fmt: skip
    counts = {
        mart: _warehouse(settings, f"SELECT count(*) FROM closed_versions.{mart} WHERE {expr} = ?", [period])[0][0]
        if mart in archived else 0
        for mart, expr in CLOSED_MARTS.items()
    }
    counts["versions"] = _warehouse(
        settings, "SELECT count(*) FROM meta.period_closes WHERE billing_period = ?", [period]
    )[0][0]
    return counts


def test_a_close_killed_while_freezing_or_publishing_leaves_nothing_half_done(quarter, monkeypatch):
    """Dying inside the freeze rolls it back whole; dying inside the copy leaves the published file as it was."""
    from datetime import date

    from orchestration import close, publish
    from orchestration.ingest.warehouse import connect

    settings = quarter
    march = date(2026, 3, 1)
    published = _digest(settings.published)
    assert set(_frozen(settings, "2026-03-01").values()) == {0}
    archived: list[str] = []
    archive = close._archive_mart

    def dies_at_the_fifth_mart(con, mart, *args):
        archived.append(mart)
        if len(archived) == 5:
            raise KeyboardInterrupt  # the signal arrives between two marts
        return archive(con, mart, *args)

    con = connect(settings.warehouse)
    try:
        monkeypatch.setattr(close, "_archive_mart", dies_at_the_fifth_mart)
        with pytest.raises(KeyboardInterrupt):
            close.close_period(con, settings, march, closed_by="tests", dbt_summary={"pass": 1})
        monkeypatch.undo()
        assert len(archived) == 5
    finally:
        con.close()
    assert set(_frozen(settings, "2026-03-01").values()) == {0}, "a killed freeze left part of a version"
    assert _digest(settings.published) == published

    def dies_mid_copy(source, target):
        with open(source, "rb") as fh, open(target, "wb") as out:
            out.write(fh.read(1 << 20))
        raise KeyboardInterrupt

    con = connect(settings.warehouse)
    try:
        monkeypatch.setattr(publish.shutil, "copyfile", dies_mid_copy)
        publications = con.execute("SELECT count(*) FROM meta.publications").fetchone()[0]
        with pytest.raises(KeyboardInterrupt):
            close.close_period(con, settings, march, closed_by="tests", dbt_summary={"pass": 1})
        monkeypatch.undo()
        # The close is committed in the warehouse, whole, but not published: readers still see the last publication.
        assert con.execute("SELECT count(*) FROM meta.publications").fetchone()[0] == publications
    finally:
        con.close()
    frozen = _frozen(settings, "2026-03-01")
    manifest = dict(_warehouse(
        settings, "SELECT table_name, row_count FROM meta.close_manifest WHERE billing_period = '2026-03-01'"
    ))  # fmt: skip
    assert frozen.pop("versions") == 1 and frozen == manifest and frozen["fct_focus_charges"] > 0
    assert _digest(settings.published) == published
    assert not list(settings.published.parent.glob(f".{settings.published.name}.*.tmp"))
    assert _published(settings, "SELECT count(*) FROM meta.period_closes WHERE billing_period = '2026-03-01'") == [(0,)]
    # The next build publishes it.
    assert run_build(settings) == []
    assert _published(settings, "SELECT close_version FROM meta.period_closes WHERE billing_period = '2026-03-01'") == [(1,)]


def test_a_failing_dbt_test_stops_the_build_before_it_publishes(quarter):
    settings = quarter
    # March's invoice delivered again in a second file: not a duplicate file (other bytes), but one invoice twice;
    # the dbt test on the invoices' key fails the build.
    invoices = _invoice_file(settings).read_text().splitlines()
    again = settings.landing / "business" / "invoices-march-again.csv"
    again.write_text("\n".join([invoices[0], *[line for line in invoices[1:] if ",2026-03," in line]]) + "\n")
    try:
        # The Great Expectations suite on the landed invoices flags it at ingest already...
        flagged = run_ingest(settings)
        assert any("raw/invoices" in p and "appears twice" in p for p in flagged), flagged
        before = _digest(settings.published)
        # ... and the build stops at the failing dbt test, before anything is published.
        problems = run_build(settings)
        assert problems and any("stg_business__invoices" in p for p in problems), problems
        assert _digest(settings.published) == before
        code, output = _tfm("close", "--period", "2026-03")
        assert code == 1 and "2026-03 was not closed: the build failed" in output
        assert _digest(settings.published) == before
        report = max((settings.close_reports / "2026-03").glob("failed-*.md")).read_text()
        assert "| build | dbt | **FAIL** |" in report and "stg_business__invoices" in report
    finally:
        again.unlink()
        assert run_ingest(settings) == []


def test_a_file_its_delivery_manifest_lists_must_have_landed(tmp_path):
    from datetime import date

    from orchestration.close import manifest_gaps

    landing = tmp_path / "landing"
    metadata = landing / "cur2" / "metadata" / "BILLING_PERIOD=2026-02"
    metadata.mkdir(parents=True)
    keys = [f"exports/cur2/data/BILLING_PERIOD=2026-02/cur2-0000{i}.snappy.parquet" for i in (1, 2)]
    (metadata / "cur2-Manifest.json").write_text(
        json.dumps({"billingPeriod": {"start": "2026-02-01T00:00:00.000Z"}, "dataFiles": keys})
    )
    for folder, name in (("BILLING_PERIOD=2026-02", "cur2-00001.snappy.parquet"),
                         ("BILLING_PERIOD=2026-01", "cur2-00002.snappy.parquet")):  # fmt: skip
        (landing / "cur2" / "data" / folder).mkdir(parents=True, exist_ok=True)
        (landing / "cur2" / "data" / folder / name).write_bytes(b"PAR1")
    # January's file of the same name is not February's second file.
    assert manifest_gaps(landing, date(2026, 2, 1)) == [
        {"manifest": "cur2/metadata/BILLING_PERIOD=2026-02/cur2-Manifest.json", "missing_file": keys[1]}
    ]
    assert manifest_gaps(landing, date(2026, 1, 1)) == []
