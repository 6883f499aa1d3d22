"""Business inputs (invoices, unit drivers, SLIs, incidents) land as files and are ingested like the bills.

Each family is recognised by its columns whatever the file's name, typed exactly, validated (a bad value
rejects the file with its line and column, and the month keeps its rows), replaced a whole month at a time,
and recorded in the same ledger. A reload never empties a month, and replacing a closed month's rows is
recorded in meta.period_restatements.
"""

from __future__ import annotations

import gzip
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest.errors import PeriodBlockedError
from orchestration.ingest.loader import load_pending, load_period, prune_period, scan_landing
from tests.conftest import LEGACY_CSV, put
from tests.test_ingest_bad_input import assert_rejected_with, rejected

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
NOV_2023 = date(2023, 11, 1)

INVOICES = (
    "billing_account_id,billing_period,invoice_id,currency,total,provider,issued_at\n"
    "012345678901,2026-01,000731,USD,34632.500000000000000001,AWS,2026-02-03T10:00:00+02:00\n"
    "012345678901,2026-02,000732,USD,38608.23,AWS,2026-03-03 08:00:00\n"
)
# A quarter of volumes in one file: each month is its own period.
DRIVERS = (
    "date,product,requests,transactions,active_customers\n"
    "2026-01-01,storefront,4155084,86593,181230\n"
    "2026-01-31,partner-api,9223372036854775807,0,1\n"
    "2026-02-01,storefront,4000000,80000,180000\n"
    "2026-03-01,storefront,4100000,81000,181000\n"
)
SLIS = (
    "date,service,sli_name,good_events,total_events\n"
    "2026-01-01,storefront,availability,4154000,4155084\n"
    "2026-01-01,storefront,latency_p95_under_300ms,4100000,4155084\n"
)
INCIDENTS = (
    "incident_id,started_at,ended_at,affected_service,severity,summary\n"
    'INC-1,2026-01-31 23:30:00,2026-02-01T01:15:00Z,storefront,SEV2,"Checkout ""timeouts""; it\'s the NAT"\n'
    "INC-2,2026-02-14 13:05:00+01:00,2026-02-14 19:50:00,mobile-app,SEV3,\n"
)


def write(path: Path, text: str, *, compress: bool = False) -> Path:
    """Write a file (gzip if asked), always with a new modification time so a scan sees it changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    return path


def ingest(con, landing, **kwargs) -> list[str]:
    scan_landing(con, landing)
    return load_pending(con, **kwargs)[1]


def column_types(con, table: str) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    )


def month_rows(con, table: str) -> dict:
    """Rows, a digest of every value (the file's checksum and load time aside), and the files, per month."""
    return {
        period: (rows, digest, files)
        for period, rows, digest, files in con.execute(
            "SELECT t._billing_period, count(*), "
            "md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY t._source_file, t._source_row)), "
            "list(DISTINCT t._source_file ORDER BY t._source_file) "
            f"FROM (SELECT * EXCLUDE (_ingested_at, _file_checksum) FROM raw.{table}) AS t GROUP BY 1"
        ).fetchall()
    }


@pytest.fixture
def loaded(con, landing):
    """Every business input landed under a name that says nothing of what it holds, and loaded."""
    write(landing / "finance" / "export-1.csv", INVOICES)
    write(landing / "bi" / "daily.csv.gz", DRIVERS, compress=True)
    write(landing / "sre" / "slo.csv", SLIS)
    write(landing / "sre" / "invoices.csv", INCIDENTS)  # a misleading name: its columns say incidents
    assert ingest(con, landing) == []
    return {table: month_rows(con, table) for table in ("invoices", "unit_drivers", "sli_daily", "incidents")}


# --- recognised by content, typed exactly ---------------------------------------------------------------


def test_each_business_input_is_recognised_by_its_columns_and_typed_exactly(con, landing, loaded):
    families = dict(con.execute("SELECT path, source_family FROM meta.landing_files").fetchall())
    assert {Path(p).relative_to(landing.resolve()).as_posix(): f for p, f in families.items()} == {
        "finance/export-1.csv": "invoices",
        "bi/daily.csv.gz": "unit_drivers",
        "sre/slo.csv": "sli_daily",
        "sre/invoices.csv": "incidents",
    }
    lineage = {"_source_file": "VARCHAR", "_file_checksum": "VARCHAR", "_source_row": "BIGINT",
               "_billing_period": "DATE", "_ingested_at": "TIMESTAMP"}  # fmt: skip
    assert column_types(con, "invoices") == {
        "billing_account_id": "VARCHAR", "billing_period": "DATE", "invoice_id": "VARCHAR", "currency": "VARCHAR",
        "total": "DECIMAL(38,18)", "provider": "VARCHAR", "issued_at": "TIMESTAMP", **lineage,
    }  # fmt: skip
    assert column_types(con, "unit_drivers") == {
        "date": "DATE", "product": "VARCHAR", "requests": "BIGINT", "transactions": "BIGINT",
        "active_customers": "BIGINT", **lineage,
    }  # fmt: skip
    assert column_types(con, "sli_daily") == {
        "date": "DATE", "service": "VARCHAR", "sli_name": "VARCHAR", "good_events": "BIGINT", "total_events": "BIGINT",
        **lineage,
    }  # fmt: skip
    assert column_types(con, "incidents") == {
        "incident_id": "VARCHAR", "started_at": "TIMESTAMP", "ended_at": "TIMESTAMP", "affected_service": "VARCHAR",
        "severity": "VARCHAR", "summary": "VARCHAR", **lineage,
    }  # fmt: skip

    invoices = con.execute(
        "SELECT billing_account_id, billing_period, invoice_id, total, issued_at, _billing_period, _source_row "
        "FROM raw.invoices ORDER BY invoice_id"
    ).fetchall()
    assert invoices == [
        ("012345678901", JAN, "000731", Decimal("34632.500000000000000001"), datetime(2026, 2, 3, 8, 0), JAN, 1),
        ("012345678901", FEB, "000732", Decimal("38608.23"), datetime(2026, 3, 3, 8, 0), FEB, 2),
    ]
    drivers = con.execute(
        "SELECT date, product, requests, _billing_period FROM raw.unit_drivers ORDER BY date, product"
    ).fetchall()
    assert drivers[1] == (date(2026, 1, 31), "partner-api", 9223372036854775807, JAN)  # BIGINT, not a float
    incidents = con.execute("SELECT incident_id, started_at, ended_at, summary, _billing_period FROM raw.incidents "
                            "ORDER BY 1").fetchall()  # fmt: skip
    assert incidents == [
        ("INC-1", datetime(2026, 1, 31, 23, 30), datetime(2026, 2, 1, 1, 15), 'Checkout "timeouts"; it\'s the NAT', JAN),
        ("INC-2", datetime(2026, 2, 14, 12, 5), datetime(2026, 2, 14, 19, 50), None, FEB),  # +01:00 read as UTC
    ]
    # Invoices carry money into the ledger; the other inputs carry none (NULL, not 0).
    ledger = con.execute(
        "SELECT source_family, billing_period, row_count, billed_cost, file_format FROM meta.file_ledger "
        "ORDER BY 1, 2"
    ).fetchall()
    assert ledger == [
        ("incidents", JAN, 1, None, "csv"), ("incidents", FEB, 1, None, "csv"),
        ("invoices", JAN, 1, Decimal("34632.500000000000000001"), "csv"),
        ("invoices", FEB, 1, Decimal("38608.23"), "csv"),
        ("sli_daily", JAN, 2, None, "csv"),
        ("unit_drivers", JAN, 2, None, "gzip csv"), ("unit_drivers", FEB, 1, None, "gzip csv"),
        ("unit_drivers", MAR, 1, None, "gzip csv"),
    ]  # fmt: skip


def test_parquet_business_inputs_load_with_the_same_types(con, landing, tmp_path):
    raw = duckdb.connect()
    raw.execute(f"""COPY (SELECT '000123' AS billing_account_id, '2026-03' AS billing_period, 'A-1' AS invoice_id,
                                 'EUR' AS currency, CAST(10.25 AS DECIMAL(12, 2)) AS total)
                    TO '{landing / "a.parquet"}'""")
    raw.execute(f"""COPY (SELECT DATE '2026-03-02' AS date, 'storefront' AS product, 5 AS requests,
                                 CAST(2 AS SMALLINT) AS transactions, 1.0::DOUBLE AS active_customers)
                    TO '{landing / "b.parquet"}'""")
    raw.execute(f"""COPY (SELECT TIMESTAMPTZ '2026-03-05 10:00:00+02' AS started_at,
                                 TIMESTAMP '2026-03-05 11:00:00' AS ended_at, 'X' AS incident_id,
                                 'storefront' AS affected_service, 'SEV1' AS severity, 'down' AS summary)
                    TO '{landing / "c.parquet"}'""")
    raw.close()
    assert ingest(con, landing) == []
    assert con.execute("SELECT billing_account_id, billing_period, total FROM raw.invoices").fetchall() == [
        ("000123", MAR, Decimal("10.25"))
    ]
    assert con.execute("SELECT requests, transactions, active_customers FROM raw.unit_drivers").fetchall() == [
        (5, 2, 1)
    ]
    assert column_types(con, "unit_drivers")["active_customers"] == "BIGINT"
    assert con.execute("SELECT started_at, _billing_period FROM raw.incidents").fetchall() == [
        (datetime(2026, 3, 5, 8, 0), MAR)
    ]


def test_a_file_with_none_of_the_shapes_is_rejected_and_names_its_columns(con, landing, loaded):
    bad = write(landing / "bi" / "volumes.csv", "day,product,requests\n2026-01-01,storefront,1\n")
    ingest(con, landing)
    assert_rejected_with(con, bad, "unknown file shape", "day, product, requests", "no business input")


# --- bad values are rejected and the month keeps its rows ------------------------------------------------


@pytest.mark.parametrize(
    ("table", "path", "text", "fragments"),
    [
        (
            "invoices", "finance/export-1.csv",
            INVOICES.replace("38608.23", "USD 38608.23"),
            ("line 3", "column 'total'", "'USD 38608.23' is not a valid number"),
        ),
        (
            "sli_daily", "sre/slo.csv",
            SLIS.replace("4100000", "4100000.5"),
            ("line 3", "column 'good_events'", "'4100000.5' is not a valid whole number"),
        ),
        (
            "unit_drivers", "bi/daily.csv.gz",
            DRIVERS.replace("80000,", "8e4,"),
            ("line 4", "column 'transactions'", "'8e4' is not a valid whole number"),
        ),
        (
            "unit_drivers", "bi/daily.csv.gz",
            DRIVERS.replace("4000000,80000,180000", "4000000,,180000"),
            ("line 4", "column 'transactions'", "an empty value"),
        ),
        (
            "incidents", "sre/invoices.csv",
            INCIDENTS.replace("2026-02-14 19:50:00", "14/02/2026 19h50"),
            ("line 3", "column 'ended_at'", "'14/02/2026 19h50' is not a valid date and time"),
        ),
        (
            "invoices", "finance/export-1.csv",
            INVOICES.replace("2026-02,", "2026-13,"),
            ("line 3", "column 'billing_period'", "'2026-13' is not a valid month (YYYY-MM)"),
        ),
    ],
    ids=["non-numeric total", "fractional good_events", "exponent count", "empty count", "bad timestamp",
         "bad month"],
)  # fmt: skip
def test_a_bad_value_is_rejected_with_file_line_and_column_and_the_month_keeps_its_rows(
    con, landing, loaded, table, path, text, fragments
):
    bad = write(landing / path, text, compress=path.endswith(".gz"))
    problems = ingest(con, landing)
    error = assert_rejected_with(con, bad, *fragments)
    assert any(error in p for p in problems), problems
    after = {t: month_rows(con, t) for t in loaded}
    assert after == loaded  # every month of every input as it was, the bad file's months included


def test_a_bad_business_file_does_not_hold_back_the_bills_of_its_month(con, landing):
    """A rejected file keeps its own family's month as it was; the bills of that month still load and restate."""
    put(landing, LEGACY_CSV, "cur/legacy.csv")
    bad = write(landing / "finance" / "nov.csv", INVOICES.replace("2026-01", "2023-11").replace("34632.5", "n/a"))
    problems = ingest(con, landing)
    assert_rejected_with(con, bad, "line 2", "column 'total'", "'n/a")
    assert [p for p in problems if "kept as it was" in p] == [p for p in problems if "Invoices 2023-11" in p] != []
    lines = LEGACY_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    write(landing / "cur" / "legacy.csv", "".join(lines[:-300]))  # the provider restates the month
    problems = ingest(con, landing)
    assert not [p for p in problems if "AWS CUR" in p], problems
    assert con.execute("SELECT count(*) FROM raw.aws_cur_legacy WHERE _billing_period = ?", [NOV_2023]).fetchone() == (
        1281 - 300,
    )


# --- restatement ---------------------------------------------------------------------------------------


def test_a_restated_business_file_replaces_its_months(con, landing, loaded):
    restated = DRIVERS.replace("4100000", "4200000") + "2026-03-02,storefront,4300000,82000,182000\n"
    write(landing / "bi" / "daily.csv.gz", restated, compress=True)
    assert ingest(con, landing) == []
    after = month_rows(con, "unit_drivers")
    assert after[MAR] != loaded["unit_drivers"][MAR]
    assert con.execute(
        "SELECT date, requests FROM raw.unit_drivers WHERE _billing_period = ? ORDER BY date", [MAR]
    ).fetchall() == [(date(2026, 3, 1), 4200000), (date(2026, 3, 2), 4300000)]  # replaced, not appended
    audit = con.execute(
        "SELECT row_count, replaced_row_count FROM meta.period_loads WHERE source_family = 'unit_drivers' "
        "AND billing_period = ? ORDER BY loaded_at", [MAR]
    ).fetchall()
    assert audit == [(1, 0), (2, 1)]
    # The file's other months are reloaded from the new version, with the same rows.
    assert [after[m][:2] for m in (JAN, FEB)] == [loaded["unit_drivers"][m][:2] for m in (JAN, FEB)]
    assert {t: month_rows(con, t) for t in ("invoices", "sli_daily", "incidents")} == {
        t: loaded[t] for t in ("invoices", "sli_daily", "incidents")
    }


def test_a_month_a_file_no_longer_holds_is_kept_until_pruned(con, landing, loaded):
    write(landing / "bi" / "daily.csv.gz", DRIVERS.replace("2026-02-01,storefront,4000000,80000,180000\n", ""),
          compress=True)  # fmt: skip
    scan_landing(con, landing)
    loads, problems = load_pending(con)
    assert {load.period for load in loads} == {JAN, MAR}  # the file's other months reload from the new version
    assert len(problems) == 1 and "Unit drivers (business volumes) 2026-02 kept (1 rows)" in problems[0], problems
    assert month_rows(con, "unit_drivers")[FEB] == loaded["unit_drivers"][FEB]
    prune_period(con, "unit_drivers", FEB)
    assert FEB not in month_rows(con, "unit_drivers")


def test_the_same_business_file_under_two_names_is_loaded_once(con, landing, loaded):
    write(landing / "finance" / "copy-of-export.csv", INVOICES)
    scan = scan_landing(con, landing)
    assert list(scan.duplicates.values()) == [str((landing / "finance" / "export-1.csv").resolve())]
    assert load_pending(con) == ([], [])
    assert month_rows(con, "invoices") == loaded["invoices"]


# --- no empty restatement --------------------------------------------------------------------------------


def test_a_header_only_file_never_empties_its_month(con, landing, loaded):
    empty = write(landing / "sre" / "slo.csv", SLIS.splitlines(keepends=True)[0])
    problems = ingest(con, landing)
    error = assert_rejected_with(con, empty, "no data rows", "never replaces the rows of a period")
    assert any(error in p and "SLIs (daily good and total events) 2026-01 kept as it was" in p for p in problems)
    assert month_rows(con, "sli_daily") == loaded["sli_daily"]
    # The same for a header-only file under a new name that takes the old one's place.
    (landing / "sre" / "slo.csv").unlink()
    write(landing / "sre" / "slo-v2.csv", SLIS.splitlines(keepends=True)[0])
    problems = ingest(con, landing)
    assert any("kept as it was" in p and "no data rows" in p for p in problems), problems
    assert month_rows(con, "sli_daily") == loaded["sli_daily"]


def test_a_reload_whose_files_hold_no_rows_for_the_month_is_refused(con, landing, loaded):
    """Should the ledger ever say a file holds a month it has no rows for, the reload refuses to empty it."""
    path = str((landing / "sre" / "slo.csv").resolve())
    write(landing / "sre" / "slo.csv", SLIS.replace("2026-01-01", "2026-03-01"))
    scan_landing(con, landing)
    con.execute("UPDATE meta.landing_files SET billing_periods = [DATE '2026-01-01', DATE '2026-03-01'] "
                "WHERE path = ?", [path])  # fmt: skip
    with pytest.raises(PeriodBlockedError) as refused:
        load_period(con, "sli_daily", JAN)
    message = str(refused.value)
    assert "SLIs (daily good and total events) 2026-01 kept as it was (2 rows)" in message
    assert "never empties a period" in message and "--prune" in message and "\n" not in message
    assert month_rows(con, "sli_daily") == loaded["sli_daily"]
    assert con.execute(
        "SELECT count(*) FROM meta.period_loads WHERE source_family = 'sli_daily' AND billing_period = ?", [JAN]
    ).fetchone() == (1,)  # the first load only: nothing recorded for the refused one


# --- a closed month restated -------------------------------------------------------------------------


def test_replacing_a_closed_months_rows_is_recorded_and_warned(con, landing, loaded):
    con.execute("INSERT INTO meta.period_closes VALUES (DATE '2026-01-01', 1, now(), 'finance'), "
                "(DATE '2026-01-01', 2, now(), 'finance')")  # fmt: skip
    write(landing / "finance" / "export-1.csv", INVOICES.replace("34632.500000000000000001", "34700.10"))
    scan_landing(con, landing)
    warnings: list[str] = []
    loads, problems = load_pending(con, warn=warnings.append)
    assert problems == []
    assert sorted((load.period, load.restated_close_version) for load in loads) == [(JAN, 2), (FEB, None)]
    assert warnings == [
        (
            "Invoices: period 2026-01 was closed (version 2) and is restated by the provider: "
            "the closed numbers stay until it is re-closed"
        )
    ]
    rows = con.execute(
        "SELECT billing_period, source_family, previous_rows, previous_billed_cost, new_rows, new_billed_cost, "
        "close_version, restated_at IS NOT NULL FROM meta.period_restatements"
    ).fetchall()
    assert rows == [(JAN, "invoices", 1, Decimal("34632.500000000000000001"), 1, Decimal("34700.10"), 2, True)]
    # The load itself went through: raw is the working layer.
    assert con.execute("SELECT total FROM raw.invoices WHERE _billing_period = ?", [JAN]).fetchone() == (
        Decimal("34700.10"),
    )

    # A family without money records its rows and NULL cost; the warning goes to the log by default.
    write(landing / "sre" / "slo.csv", SLIS + "2026-01-02,storefront,availability,1,1\n")
    scan_landing(con, landing)
    logged: list[str] = []
    load_pending(con, log=logged.append)
    assert any(line.startswith("warning: SLIs (daily good and total events): period 2026-01 was closed (version 2)")
               for line in logged), logged  # fmt: skip
    assert con.execute(
        "SELECT previous_rows, previous_billed_cost, new_rows, new_billed_cost, close_version "
        "FROM meta.period_restatements WHERE source_family = 'sli_daily'"
    ).fetchall() == [(2, None, 3, None, 2)]


def test_business_inputs_are_partitioned_raw_assets():
    from orchestration.defs.ingest import billing_months, raw_assets

    by_key = {asset.key.to_user_string(): asset for asset in raw_assets}
    for name in ("invoices", "unit_drivers", "sli_daily", "incidents"):
        asset = by_key[f"raw/{name}"]
        assert asset.partitions_def == billing_months
        assert asset.metadata_by_key[asset.key]["table"] == f"raw.{name}"


def test_values_from_files_are_data(con, landing):
    hostile = "x'); DROP TABLE raw.invoices; --"
    write(landing / "a.csv", f'date,product,requests,transactions,active_customers,"{hostile.replace(chr(34), "")}"\n'
          f'2026-01-01,"{hostile}",1,2,3,"{hostile}"\n')  # fmt: skip
    assert ingest(con, landing) == []
    assert con.execute("SELECT product FROM raw.unit_drivers").fetchone() == (hostile,)
    assert hostile in column_types(con, "unit_drivers")
    assert con.execute("SELECT count(*) FROM raw.invoices").fetchone() == (0,)
    assert rejected(con) == {}
