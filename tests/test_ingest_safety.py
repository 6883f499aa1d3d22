"""Nothing a file, a folder or a mistake in the landing path contains can lose loaded data or run as SQL.

Each test starts from real samples already loaded, does what a user or a provider might do, and compares
every period's rows and cost (and the ledger) before and after.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestration.ingest import loader
from orchestration.ingest.errors import LandingFolderError, PeriodBlockedError
from orchestration.ingest.loader import load_pending, prune_period, scan_landing
from tests.conftest import ATHENA_NOV, ATHENA_OCT, FOCUS_CSV, LEGACY_CSV, put
from tests.test_ingest_bad_input import rejected, rewrite_csv, snapshot

LEGACY_ROWS, FOCUS_ROWS = 1281, None  # the FOCUS sample's row count is read from the file below
NOV_2023 = date(2023, 11, 1)


def ingest(con, landing, **kwargs) -> list[str]:
    scan_landing(con, landing)
    return load_pending(con, **kwargs)[1]


def totals(con) -> dict:
    """Rows and cost per (table, billing period): the numbers that must never change by accident."""
    out = {}
    for table, cost in (("aws_cur_legacy", "line_item_unblended_cost"), ("aws_cur_athena", "line_item_unblended_cost"),
                        ("focus", "BilledCost")):  # fmt: skip
        for period, rows, total in con.execute(
            f"SELECT _billing_period, count(*), sum({cost}) FROM raw.{table} GROUP BY ALL"
        ).fetchall():
            out[(table, period)] = (rows, total)
    return out


@pytest.fixture
def loaded(con, landing):
    put(landing, LEGACY_CSV, "cur/legacy.csv")
    put(landing, FOCUS_CSV, "focus/focus.csv")
    assert ingest(con, landing) == []
    return snapshot(con)


def with_columns(source: Path, target: Path, extra: dict[str, str]) -> Path:
    """Copy a CSV, adding columns (header -> the value of every row)."""
    with open(source, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows[0] += list(extra)
    for row in rows[1:]:
        row += list(extra.values())
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(buffer.getvalue(), encoding="utf-8")
    return target


# --- the landing folder ------------------------------------------------------------------------------


def test_a_missing_landing_folder_is_an_error_and_deletes_nothing(con, landing, loaded, tmp_path):
    with pytest.raises(LandingFolderError, match="does not exist"):
        scan_landing(con, tmp_path / "landnig")  # a typo
    assert not (tmp_path / "landnig").exists()
    assert load_pending(con) == ([], [])
    assert snapshot(con) == loaded


def test_an_empty_landing_folder_keeps_every_loaded_period(con, landing, loaded, tmp_path):
    """A share that is not mounted looks like an empty folder: every period is reported, none deleted."""
    before = totals(con)
    empty = tmp_path / "mnt" / "billing"
    empty.mkdir(parents=True)
    scan_landing(con, empty)
    loads, problems = load_pending(con)
    assert loads == []
    assert len(problems) == 3 and all("kept" in p and "--prune" in p for p in problems), problems
    assert any(f"AWS CUR (legacy CSV) 2023-11 kept ({LEGACY_ROWS:,} rows)" in p for p in problems)
    assert totals(con) == before and snapshot(con) == loaded
    # The sensor and schedule go through load_period: it refuses too.
    with pytest.raises(PeriodBlockedError, match="no longer in the landing folder"):
        loader.load_period(con, "aws_cur_legacy", NOV_2023)
    assert totals(con) == before


def test_prune_deletes_only_periods_whose_files_are_gone_and_says_so(con, landing, loaded):
    (landing / "cur" / "legacy.csv").unlink()
    scan_landing(con, landing)
    messages: list[str] = []
    loads, problems = load_pending(con, prune=True, log=messages.append)
    assert problems == []
    assert [(load.family, load.period, load.rows, load.replaced_rows) for load in loads] == [
        ("aws_cur_legacy", NOV_2023, 0, LEGACY_ROWS)
    ]
    assert any(f"pruning AWS CUR (legacy CSV) 2023-11: {LEGACY_ROWS:,} rows" in m for m in messages), messages
    after = totals(con)
    assert ("aws_cur_legacy", NOV_2023) not in after
    assert {k: v for k, v in after.items() if k[0] == "focus"} == {
        k: v for k, v in totals_of(loaded).items() if k[0] == "focus"
    }
    audit = con.execute(
        "SELECT file_count, row_count, replaced_row_count FROM meta.period_loads "
        "WHERE source_family = 'aws_cur_legacy' ORDER BY loaded_at"
    ).fetchall()
    assert audit == [(1, LEGACY_ROWS, 0), (0, 0, LEGACY_ROWS)]


def totals_of(snapshot_rows) -> dict:
    return {(r[0], r[1]): (r[2], r[3]) for r in snapshot_rows if len(r) == 5 and isinstance(r[1], date)}


def test_a_closed_period_is_never_pruned(con, landing, loaded):
    con.execute("INSERT INTO meta.period_closes VALUES (DATE '2023-11-01', 1, now(), 'finance')")
    (landing / "cur" / "legacy.csv").unlink()
    scan_landing(con, landing)
    loads, problems = load_pending(con, prune=True)
    assert loads == [] and len(problems) == 1 and "closed" in problems[0], problems
    with pytest.raises(PeriodBlockedError, match="closed"):
        prune_period(con, "aws_cur_legacy", NOV_2023)
    assert snapshot(con) == loaded


def test_cli_ingest_with_a_mistyped_landing_folder_fails_and_keeps_everything(tfm_home, monkeypatch):
    from orchestration.cli import main, run_ingest

    put(tfm_home.landing, LEGACY_CSV, "cur/legacy.csv")
    assert run_ingest(tfm_home) == []
    typo = tfm_home.home / "landnig"
    monkeypatch.setenv("TFM_LANDING", str(typo))
    result = CliRunner().invoke(main, ["ingest"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "does not exist" in errors[0] and "Traceback" not in result.output
    assert not typo.exists()  # never created silently
    # An empty folder given with --landing: kept and reported, exit 1; --prune names the rows it deletes.
    empty = tfm_home.home / "empty"
    empty.mkdir()
    monkeypatch.delenv("TFM_LANDING")
    result = CliRunner().invoke(main, ["ingest", "--landing", str(empty)])
    assert result.exit_code == 1 and "holds no billing files" in result.output and "--prune" in result.output
    from orchestration.ingest.warehouse import connect

    con = connect(tfm_home.warehouse, read_only=True)
    assert con.execute("SELECT count(*) FROM raw.aws_cur_legacy").fetchone()[0] == LEGACY_ROWS
    con.close()
    result = CliRunner().invoke(main, ["ingest", "--landing", str(empty), "--prune"])
    assert result.exit_code == 0, result.output
    assert f"AWS CUR (legacy CSV) 2023-11: {LEGACY_ROWS:,} rows from 1 file(s)" in result.output
    con = connect(tfm_home.warehouse, read_only=True)
    assert con.execute("SELECT count(*) FROM raw.aws_cur_legacy").fetchone()[0] == 0
    con.close()


# --- what a file holds -------------------------------------------------------------------------------


def _gzip_cut_at_a_row_boundary(rows: int) -> bytes:
    """A gzip stream of the first rows, flushed but never finished: every byte decodes, the end is missing."""
    lines = LEGACY_CSV.read_bytes().splitlines(keepends=True)
    deflater = zlib.compressobj(6, zlib.DEFLATED, 31)
    return deflater.compress(b"".join(lines[: rows + 1])) + deflater.flush(zlib.Z_FULL_FLUSH)


def test_a_gzip_cut_at_a_row_boundary_is_rejected_and_the_month_kept(con, landing):
    target = landing / "cur" / "20231101-20231201" / "legacy.csv.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(gzip.compress(LEGACY_CSV.read_bytes()))
    assert ingest(con, landing) == []
    before = snapshot(con)
    assert totals(con)[("aws_cur_legacy", NOV_2023)][0] == LEGACY_ROWS
    target.write_bytes(_gzip_cut_at_a_row_boundary(700))  # the restatement arrives cut short
    problems = ingest(con, landing)
    assert any("kept as it was" in p and "truncated" in p for p in problems), problems
    assert "truncated" in rejected(con)[str(target.resolve())]
    assert snapshot(con) == before


def test_a_cut_gzip_is_rejected_even_as_the_first_delivery(con, landing, loaded):
    bad = landing / "more" / "legacy.csv.gz"
    bad.parent.mkdir()
    bad.write_bytes(_gzip_cut_at_a_row_boundary(700))
    ingest(con, landing)
    assert "truncated" in rejected(con)[str(bad.resolve())]
    assert snapshot(con) == loaded


def test_the_same_file_under_a_second_name_is_loaded_once(con, landing, loaded):
    copy = put(landing, LEGACY_CSV, "cur/legacy (1).csv")
    report = scan_landing(con, landing)
    assert report.duplicates == {str(copy.resolve()): str((landing / "cur" / "legacy.csv").resolve())}
    loads, problems = load_pending(con)
    assert loads == [] and problems == []
    assert snapshot(con) == loaded
    status = dict(con.execute("SELECT path, status FROM meta.landing_files").fetchall())
    assert status[str(copy.resolve())] == "duplicate"
    # When the original goes, the copy takes its place: the same rows, loaded once.
    (landing / "cur" / "legacy.csv").unlink()
    scan_landing(con, landing)
    loads, problems = load_pending(con)
    assert problems == [] and [(load.rows, load.replaced_rows) for load in loads] == [(LEGACY_ROWS, LEGACY_ROWS)]
    assert totals(con) == totals_of(loaded)


def test_two_copies_arriving_together_are_loaded_once(con, landing):
    put(landing, LEGACY_CSV, "a/legacy.csv")
    put(landing, LEGACY_CSV, "b/legacy.csv")
    assert ingest(con, landing) == []
    assert totals(con)[("aws_cur_legacy", NOV_2023)][0] == LEGACY_ROWS


def test_a_removed_file_plus_a_corrupt_replacement_keeps_the_month(con, landing, loaded):
    (landing / "cur" / "legacy.csv").unlink()
    replacement = landing / "cur" / "legacy-v2.csv.gz"
    replacement.write_bytes(gzip.compress(LEGACY_CSV.read_bytes())[:5000])
    problems = ingest(con, landing)
    assert str(replacement.resolve()) in rejected(con)
    assert snapshot(con) == loaded and problems
    # --prune does not delete a month that the rejected file may belong to.
    loads, problems = load_pending(con, prune=True)
    assert loads == [] and any("kept" in p and "truncated" in p for p in problems), problems
    assert snapshot(con) == loaded


def test_a_dropped_chunk_waits_while_a_rejected_file_of_unknown_period_is_around(con, landing):
    first = put(landing, LEGACY_CSV, "cur/part-1.csv")
    second = landing / "cur" / "part-2.csv"
    second.write_text("".join(LEGACY_CSV.read_text(encoding="utf-8").splitlines(keepends=True)[:101]))
    assert ingest(con, landing) == []
    before = snapshot(con)
    second.unlink()
    (landing / "cur" / "part-3.csv").write_bytes(b"\x00\x01garbage" * 20)  # its period cannot be read
    problems = ingest(con, landing)
    assert any("kept as it was" in p for p in problems), problems
    assert snapshot(con) == before
    # Once the bad file is fixed or removed, the chunk drop goes through.
    (landing / "cur" / "part-3.csv").unlink()
    assert ingest(con, landing) == []
    assert con.execute("SELECT list(DISTINCT _source_file) FROM raw.aws_cur_legacy").fetchone()[0] == [
        str(first.resolve())
    ]


def test_a_file_delivered_in_the_folder_of_another_period_is_rejected(con, landing, loaded):
    wrong = landing / "cur" / "report" / "20231201-20240101" / "asm" / "report-1.csv"
    rewrite_csv(LEGACY_CSV, wrong, {(0, "lineItem/UnblendedCost"): "1"})  # not a byte-for-byte duplicate
    athena = put(landing, ATHENA_OCT, "athena/year=2018/month=11/oct.parquet")
    ingest(con, landing)
    for path in (wrong, athena):
        assert "a file delivered for the wrong period" in rejected(con)[str(path.resolve())]
    assert "rows are for billing period 2023-11 but it lies in a folder for 2023-12" in rejected(con)[
        str(wrong.resolve())
    ]
    assert snapshot(con) == loaded


def test_an_account_changing_currency_between_files_of_a_period_is_rejected(con, landing, loaded):
    euro = landing / "cur" / "legacy-eur.csv"
    with open(LEGACY_CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    column = rows[0].index("lineItem/CurrencyCode")
    for row in rows[1:]:
        row[column] = "EUR"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows[:50])
    euro.write_text(buffer.getvalue(), encoding="utf-8")
    problems = ingest(con, landing)
    error = rejected(con)[str(euro.resolve())]
    assert "billed in EUR here but in USD" in error and "'lineItem/CurrencyCode'" in error
    assert any("2023-11 kept as it was" in p for p in problems)
    assert snapshot(con) == loaded


def test_an_unreadable_file_is_rejected_and_the_others_load(con, landing, loaded, monkeypatch):
    secret = put(landing, ATHENA_OCT, "athena/year=2018/month=10/oct.parquet")
    other = put(landing, ATHENA_NOV, "athena/year=2018/month=11/nov.parquet")
    if os.geteuid() == 0:
        # root reads any file whatever its mode: make the read fail the way it fails for other users.
        real = loader.file_checksum

        def denied(path, *args, **kwargs):
            if Path(path).resolve() == secret.resolve():
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *args, **kwargs)

        monkeypatch.setattr(loader, "file_checksum", denied)
    else:
        secret.chmod(0)
    ingest(con, landing)
    error = rejected(con)[str(secret.resolve())]
    assert "cannot read: Permission denied" in error and "\n" not in error
    assert con.execute("SELECT DISTINCT _source_file FROM raw.aws_cur_athena").fetchall() == [
        (str(other.resolve()),)
    ]
    assert {k: v for k, v in totals(con).items() if k[0] != "aws_cur_athena"} == totals_of(loaded)


# --- hostile names and values ------------------------------------------------------------------------

HOSTILE_HEADERS = {
    'x_Evil"; DROP TABLE raw.aws_cur_legacy; --': "v1",
    'Evil"Col;': "v2",
    "x_ünïcödé_日本語": "v3",
    "x_it's": "v4",
}


def test_hostile_column_headers_load_as_data(con, landing, loaded):
    target = with_columns(FOCUS_CSV, landing / "focus" / "focus.csv", HOSTILE_HEADERS)
    target.touch()
    assert ingest(con, landing) == []
    names = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                       "WHERE table_schema = 'raw' AND table_name = 'focus'").fetchall()}  # fmt: skip
    assert set(HOSTILE_HEADERS) <= names
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "aws_cur_legacy" in tables
    for header, value in HOSTILE_HEADERS.items():
        quoted = '"' + header.replace('"', '""') + '"'
        assert con.execute(f"SELECT DISTINCT {quoted} FROM raw.focus").fetchall() == [(value,)]
    assert {k: v for k, v in totals(con).items() if k[0] == "aws_cur_legacy"} == {
        k: v for k, v in totals_of(loaded).items() if k[0] == "aws_cur_legacy"
    }


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("x_new\nline", "control character"),
        ("x_nul\x00byte", "control character"),
        ("_source_file", "lineage column"),
        ("_BILLING_PERIOD", "lineage column"),
        ("x_" + "a" * 300, "at most 255"),
    ],
)
def test_a_column_header_that_cannot_be_a_column_name_rejects_the_file(con, landing, loaded, header, fragment):
    bad = with_columns(FOCUS_CSV, landing / "focus" / "focus-v2.csv", {header: "x"})
    ingest(con, landing)
    error = rejected(con)[str(bad.resolve())]
    assert fragment in error and "line 1" in error and "\n" not in error.replace(header, "")
    assert snapshot(con) == loaded


def test_a_column_differing_only_in_case_from_an_earlier_one_is_the_same_column(con, landing):
    with_columns(FOCUS_CSV, landing / "a" / "focus.csv", {"x_Region": "eu"})
    assert ingest(con, landing) == []
    with_columns(FOCUS_CSV, landing / "a" / "focus.csv", {"x_REGION": "us"})
    assert ingest(con, landing) == []
    assert con.execute("SELECT DISTINCT x_region FROM raw.focus").fetchall() == [("us",)]


HOSTILE_TAGS = {
    "resourceTags/user:team": "payments'; DROP TABLE raw.focus; --",
    'resourceTags/user:say"hi"': 'a "quoted" value; with semicolons',
    "resourceTags/user:日本語キー": "値\nwith a newline",
    "resourceTags/user:Ümlaut-Key": "$(touch pwned)",
}


def test_hostile_tag_keys_and_values_load_as_data(con, landing, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with_columns(LEGACY_CSV, landing / "cur" / "legacy.csv", HOSTILE_TAGS)
    assert ingest(con, landing) == []
    tags = con.execute("SELECT DISTINCT resource_tags FROM raw.aws_cur_legacy").fetchall()
    assert tags == [({key.removeprefix("resourceTags/"): value for key, value in HOSTILE_TAGS.items()},)]
    assert not (tmp_path / "pwned").exists()
    assert "focus" in {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def test_hostile_file_and_folder_names_load_as_data(con, landing, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = landing / "it's \"quoted\"; $(touch pwned)" / "x'); DROP TABLE raw.focus; --"
    legacy = put(landing, LEGACY_CSV, str((folder / "bill'; SELECT 1; --.csv").relative_to(landing)))
    focus = put(landing, FOCUS_CSV, str((folder / "$(id) `id` focus.csv").relative_to(landing)))
    assert ingest(con, landing) == []
    assert con.execute("SELECT DISTINCT _source_file FROM raw.aws_cur_legacy").fetchall() == [
        (str(legacy.resolve()),)
    ]
    assert con.execute("SELECT DISTINCT _source_file FROM raw.focus").fetchall() == [(str(focus.resolve()),)]
    assert totals(con)[("aws_cur_legacy", NOV_2023)][0] == LEGACY_ROWS
    assert not (tmp_path / "pwned").exists()
