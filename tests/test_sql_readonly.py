"""``tfm sql`` is read-only: one checked SELECT, no file access, exports written by tfm (safety issue 8).

The warehouse here is a small DuckDB file built directly (a FOCUS-like mart with a DECIMAL(38,18) money
column, a JSON column and long text), under a TFM_HOME whose landing folder holds a billing file that
nothing may overwrite, beside a secret file that no query may read.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from orchestration import analyst
from orchestration.cli import main
from orchestration.settings import REPO_ROOT

LONG_PATH = "s3://billing-exports/" + "/".join(f"segment-{i:03d}" for i in range(30)) + "/part-00000.parquet"
LANDING_CONTENT = "identity/LineItemId,lineItem/UnblendedCost\nabc,1.50\n"
SECRET = "TFM-SECRET-7f3c2a"
WIDE_COLUMNS = 80

# (BilledCost, Tags, x_source_file): exact decimals at both ends of DECIMAL(38,18), a NULL, nested JSON.
ROWS = [
    ("12345678901234567890.123456789012345678", '{"team": "payments", "env": "prod"}', LONG_PATH),
    ("0.000000000000000001", '{"nested": {"a": [1, 2, {"b": "x|y"}]}}', "landing/a.csv"),
    ("-42.500000000000000000", None, 'quote " and, comma\nnewline'),
    (None, "{}", ""),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sql_readonly")
    home = root / "tfm"
    (home / "landing").mkdir(parents=True)
    (home / "published").mkdir()
    (home / "landing" / "cur.csv").write_text(LANDING_CONTENT)
    (root / "secret.txt").write_text(SECRET + "\n")
    (root / "secret.csv").write_text(f"name\n{SECRET}\n")
    (root / "secret.json").write_text(json.dumps({"name": SECRET}))
    pq.write_table(pa.table({"name": [SECRET]}), root / "secret.parquet")
    con = duckdb.connect(str(home / "published" / "warehouse.duckdb"))  # what tfm sql reads: the last published build
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA marts")
        con.execute(
            "CREATE TABLE marts.fct_focus_charges (id INTEGER, BilledCost DECIMAL(38, 18), Tags JSON, "
            "x_source_file VARCHAR, ChargePeriodStart TIMESTAMPTZ, x_tags MAP(VARCHAR, VARCHAR))"
        )
        for i, (cost, tags, path) in enumerate(ROWS, start=1):
            con.execute(
                "INSERT INTO marts.fct_focus_charges VALUES "
                "(?, CAST(? AS DECIMAL(38, 18)), CAST(? AS JSON), ?, TIMESTAMPTZ '2026-01-01 00:00:00+00', "
                "MAP {'team': 'payments'})",
                [i, cost, tags, path],
            )
        columns = ", ".join(f"{i} AS wide_column_{i:02d}" for i in range(WIDE_COLUMNS))
        con.execute(f"CREATE TABLE marts.wide AS SELECT {columns}")
        con.execute("CREATE TABLE marts.numbers AS SELECT range AS n FROM range(250)")
    finally:
        con.close()
    return home


def tfm_sql(home: Path, *args: str, env: dict | None = None):
    environment = {"TFM_HOME": str(home), "TFM_LANDING": None, "DAGSTER_HOME": None, "COLUMNS": None}
    return CliRunner().invoke(main, ["sql", *args], env={**environment, **(env or {})})


def refused(result, *fragments: str) -> str:
    """The run failed with one line ``error: ...`` holding every fragment; returns that line."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def expected_rows(home: Path) -> list[tuple]:
    con = duckdb.connect(str(home / "published" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT id, BilledCost, CAST(Tags AS VARCHAR), x_source_file FROM marts.fct_focus_charges ORDER BY id"
        ).fetchall()
    finally:
        con.close()


# --- what used to write files -------------------------------------------------------------------------


def test_copy_over_a_landing_file_is_refused_before_it_runs(home: Path):
    landing_file = home / "landing" / "cur.csv"
    result = tfm_sql(home, f"COPY (SELECT 1 AS a, 2 AS b, 3 AS c) TO '{landing_file}' (HEADER false)")
    line = refused(result, "tfm sql runs one read-only SELECT", "COPY writes files", "--out FILE")
    assert line == "error: tfm sql runs one read-only SELECT; COPY writes files: use --out FILE"
    assert landing_file.read_text() == LANDING_CONTENT


def test_copy_to_a_new_file_writes_nothing(home: Path, tmp_path: Path):
    target = tmp_path / "copied.csv"
    refused(tfm_sql(home, f"COPY marts.fct_focus_charges TO '{target}'"), "COPY")
    assert not target.exists()


def test_export_database_is_refused(home: Path, tmp_path: Path):
    target = tmp_path / "dump"
    refused(tfm_sql(home, f"EXPORT DATABASE '{target}'"), "EXPORT DATABASE writes files")
    assert not target.exists()


def test_a_copy_between_selects_runs_nothing(home: Path, tmp_path: Path):
    target = tmp_path / "middle.csv"
    result = tfm_sql(home, f"SELECT 1; COPY (SELECT 42) TO '{target}'; SELECT 2")
    refused(result, "got 3 statements (SELECT, COPY, SELECT)", "nothing was run")
    assert not target.exists()
    assert result.stdout == ""


# --- what used to read files outside the warehouse ----------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('{dir}/secret.csv')",
        "SELECT * FROM read_text('{dir}/secret.txt')",
        "SELECT * FROM read_blob('{dir}/secret.txt')",
        "SELECT * FROM '{dir}/secret.csv'",
        "SELECT * FROM glob('{dir}/*')",
        "SELECT * FROM read_parquet('{dir}/secret.parquet')",
        "SELECT * FROM read_json_auto('{dir}/secret.json')",
        "SELECT * FROM read_csv('{dir}/tfm/landing/cur.csv')",
    ],
)
def test_no_file_outside_the_warehouse_can_be_read(home: Path, query: str):
    result = tfm_sql(home, query.format(dir=home.parent))
    line = refused(result, "file system operations are disabled", "reads only the warehouse")
    for text in (result.stdout, line):
        assert SECRET not in text and "LineItemId" not in text
        # glob lists nothing: no file name shows that the query did not name itself.
        assert not [
            name
            for name in ("secret.txt", "secret.csv", "secret.parquet", "cur.csv")
            if name in text and name not in query
        ]


def test_the_connection_cannot_be_reopened_to_files(home: Path):
    con = analyst.connect_readonly(home / "published" / "warehouse.duckdb")
    try:
        assert con.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)
        for setting in ("SET enable_external_access = true", "SET lock_configuration = false"):
            with pytest.raises(duckdb.InvalidInputException, match="configuration has been locked"):
                con.execute(setting)
        with pytest.raises(duckdb.Error):
            con.execute(f"ATTACH '{home.parent / 'other.duckdb'}' AS other")
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_text('{home.parent / 'secret.txt'}')")
    finally:
        con.close()
    assert not (home.parent / "other.duckdb").exists()


# --- statements that are not one SELECT ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "cause"),
    [
        ("CREATE TEMP TABLE t AS SELECT 1", "CREATE makes objects, temporary ones included"),
        ("CREATE TEMP MACRO m() AS 1", "CREATE"),
        ("SET threads = 1", "SET, RESET and USE change the session's settings"),
        ("SET enable_external_access = true", "SET"),
        ("RESET threads", "SET"),
        ("USE marts", "SET"),
        ("SET VARIABLE x = 1", "SET"),
        ("ATTACH '{dir}/attached.duckdb' AS other", "ATTACH opens another database"),
        ("INSTALL tfm_no_such_extension FROM '{dir}/repository'", "INSTALL and LOAD add extensions"),
        ("LOAD '{dir}/tfm_no_such.duckdb_extension'", "INSTALL and LOAD add extensions"),
        ("CALL pragma_version()", "CALL runs a procedure"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{dir}/explained.csv'", "EXPLAIN"),
        ("INSERT INTO marts.numbers VALUES (1)", "INSERT changes data"),
        ("DELETE FROM marts.numbers", "DELETE changes data"),
        ("DROP TABLE marts.numbers", "DROP"),
        ("BEGIN TRANSACTION", "BEGIN"),
        ("CHECKPOINT", "CALL"),
        ("COPY FROM DATABASE memory TO memory", "COPY_DATABASE"),
    ],
)
def test_anything_but_one_select_is_refused_with_its_cause(home: Path, query: str, cause: str):
    result = tfm_sql(home, query.format(dir=home.parent))
    refused(result, "tfm sql runs one read-only SELECT; ", cause)
    assert result.stdout == ""
    for name in ("attached.duckdb", "repository", "explained.csv"):
        assert not (home.parent / name).exists()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) AS n FROM marts.numbers",
        "FROM marts.numbers SELECT max(n)",
        "WITH t AS (SELECT 1 AS x) SELECT * FROM t",
        "DESCRIBE marts.fct_focus_charges",
        "SHOW ALL TABLES",
        "SUMMARIZE marts.numbers",
        "PRAGMA show_tables",
        "PRAGMA table_info('marts.numbers')",
        "SELECT * FROM duckdb_tables() WHERE schema_name = 'marts'",
        "/* a comment */ SELECT 1; -- and another",
    ],
)
def test_read_only_queries_run(home: Path, query: str):
    result = tfm_sql(home, query)
    assert result.exit_code == 0, result.stderr
    assert result.stdout


def test_the_query_can_come_from_stdin(home: Path):
    environment = {"TFM_HOME": str(home), "TFM_LANDING": None, "DAGSTER_HOME": None, "COLUMNS": None}
    query = "SELECT count(*) AS n\nFROM marts.numbers\n"
    result = CliRunner().invoke(main, ["sql", "-", "--format", "csv"], input=query, env=environment)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "n\n250\n"


def test_check_query_parses_with_duckdb(home: Path):
    con = analyst.connect_readonly(home / "published" / "warehouse.duckdb")
    try:
        assert analyst.check_query(con, "select 1 -- trailing ;").type == duckdb.StatementType.SELECT
        for query, cause in [
            ("", "no query given"),
            (" ; ", "holds no SQL statement"),
            ("SELEC 1", "Parser Error"),
            ("SELECT 1; SELECT 2", "got 2 statements (SELECT, SELECT)"),
            (f"IMPORT DATABASE '{home.parent}'", "disabled by configuration"),
        ]:
            with pytest.raises(analyst.AnalystError, match=cause.replace("(", r"\(").replace(")", r"\)")):
                analyst.check_query(con, query)
    finally:
        con.close()


def test_query_errors_are_one_line(home: Path):
    refused(tfm_sql(home, "SELECT * FROM marts.no_such_table"), "Catalog Error", "no_such_table")
    refused(tfm_sql(home, "SELECT 1 +"), "Parser Error", "nothing was run")
    refused(tfm_sql(home), "no query given")
    refused(tfm_sql(home, "SELECT 1", "--max-rows", "-1"), "--max-rows")
    refused(tfm_sql(home, "SELECT 1", "--format", "xml"), "--format is one of")
    refused(tfm_sql(home, "SELECT 1", "--format", "parquet"), "use --out FILE.parquet")
    refused(tfm_sql(home, "SELECT 1", "--force"), "--force only applies with --out")


def test_no_warehouse_is_one_line(tmp_path: Path):
    refused(tfm_sql(tmp_path / "nothing", "SELECT 1"), "no warehouse at", "tfm ingest")


# --- the terminal -------------------------------------------------------------------------------------


def test_output_is_not_cut(home: Path):
    result = tfm_sql(home, "SELECT x_source_file FROM marts.fct_focus_charges WHERE id = 1")
    assert result.exit_code == 0, result.stderr
    assert LONG_PATH in result.stdout and len(LONG_PATH) > 200
    wide = tfm_sql(home, "SELECT * FROM marts.wide")
    assert wide.exit_code == 0, wide.stderr
    for i in range(WIDE_COLUMNS):
        assert f"wide_column_{i:02d}" in wide.stdout


def test_wide_results_on_a_narrow_terminal_print_one_block_per_row(home: Path):
    result = tfm_sql(home, "SELECT * FROM marts.fct_focus_charges ORDER BY id", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    assert "-[ row 1 ]" in result.stdout and "-[ row 4 ]" in result.stdout
    assert f"x_source_file     | {LONG_PATH}\n" in result.stdout
    assert "BilledCost        | 12345678901234567890.123456789012345678\n" in result.stdout
    narrow = tfm_sql(home, "SELECT 1 AS a", env={"COLUMNS": "80"})
    assert "│" in narrow.stdout and "-[ row" not in narrow.stdout


def test_max_rows_says_when_rows_are_left_out(home: Path):
    result = tfm_sql(home, "SELECT n FROM marts.numbers ORDER BY n", "--max-rows", "5", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["n", "0", "1", "2", "3", "4"]
    assert "showing the first 5 rows; the result has more" in result.stderr
    default = tfm_sql(home, "SELECT n FROM marts.numbers ORDER BY n", "--format", "csv")
    assert len(default.stdout.splitlines()) == 101
    every = tfm_sql(home, "SELECT n FROM marts.numbers ORDER BY n", "--max-rows", "0", "--format", "csv")
    assert len(every.stdout.splitlines()) == 251 and "showing" not in every.stderr


def test_csv_and_json_to_stdout(home: Path):
    expected = expected_rows(home)
    query = "SELECT id, BilledCost, Tags, x_source_file FROM marts.fct_focus_charges ORDER BY id"
    rows = list(csv.DictReader(io.StringIO(tfm_sql(home, query, "--format", "csv").stdout)))
    assert [(int(r["id"]), r["x_source_file"]) for r in rows] == [(e[0], e[3]) for e in expected]
    assert [Decimal(r["BilledCost"]) if r["BilledCost"] else None for r in rows] == [e[1] for e in expected]
    records = json.loads(tfm_sql(home, query, "--format", "json").stdout, parse_float=Decimal)
    assert [r["BilledCost"] for r in records] == [e[1] for e in expected]
    assert records[1]["Tags"] == {"nested": {"a": [1, 2, {"b": "x|y"}]}}
    lines = tfm_sql(home, query, "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["x_source_file"] for line in lines] == [e[3] for e in expected]


def test_markdown_escapes_pipes(home: Path):
    result = tfm_sql(
        home, "SELECT id, Tags FROM marts.fct_focus_charges WHERE id = 2", "--format", "markdown"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "| id | Tags |",
        "|---|---|",
        '| 2 | {"nested": {"a": [1, 2, {"b": "x\\|y"}]}} |',
    ]


# --- exports ------------------------------------------------------------------------------------------

EXPORT_QUERY = "SELECT * FROM marts.fct_focus_charges ORDER BY id"


def test_parquet_export_keeps_decimals_and_writes_json_as_text(home: Path, tmp_path: Path):
    out = tmp_path / "charges.parquet"
    result = tfm_sql(home, EXPORT_QUERY, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert f"wrote 4 row(s) to {out}" in result.stderr and result.stdout == ""
    table = pq.read_table(out)
    assert table.schema.field("BilledCost").type == pa.decimal128(38, 18)
    assert table.schema.field("Tags").type == pa.string()
    parquet_schema = pq.ParquetFile(out).schema
    tags = parquet_schema.column(parquet_schema.names.index("Tags"))
    assert tags.logical_type.type == "STRING"  # not JSON: the FOCUS validator rejects parquet's JSON type
    expected = expected_rows(home)
    assert table.column("BilledCost").to_pylist() == [e[1] for e in expected]
    assert table.column("Tags").to_pylist() == [e[2] for e in expected]
    assert table.column("x_source_file").to_pylist() == [e[3] for e in expected]
    assert table.schema.field("ChargePeriodStart").type == pa.timestamp("us", tz="UTC")


def test_csv_and_json_exports_round_trip(home: Path, tmp_path: Path):
    expected = expected_rows(home)
    for name in ("charges.csv", "charges.json", "charges.jsonl"):
        assert tfm_sql(home, EXPORT_QUERY, "--out", str(tmp_path / name)).exit_code == 0
    with (tmp_path / "charges.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [Decimal(r["BilledCost"]) if r["BilledCost"] else None for r in rows] == [e[1] for e in expected]
    assert [r["x_source_file"] for r in rows] == [e[3] for e in expected]
    assert [json.loads(r["Tags"]) if r["Tags"] else None for r in rows] == [
        json.loads(e[2]) if e[2] else None for e in expected
    ]
    array = json.loads((tmp_path / "charges.json").read_text(), parse_float=Decimal)
    lines = [
        json.loads(line, parse_float=Decimal)
        for line in (tmp_path / "charges.jsonl").read_text().splitlines()
    ]
    for records in (array, lines):
        assert [r["BilledCost"] for r in records] == [e[1] for e in expected]
        assert [r["x_source_file"] for r in records] == [e[3] for e in expected]
        assert records[0]["Tags"] == {"team": "payments", "env": "prod"}
        assert records[0]["x_tags"] == {"team": "payments"}


def test_format_overrides_the_suffix_and_repeated_names_stay_apart(home: Path, tmp_path: Path):
    out = tmp_path / "result.txt"
    refused(tfm_sql(home, "SELECT 1 AS a", "--out", str(out)), "cannot tell the format", "--format")
    result = tfm_sql(home, 'SELECT 1 AS a, 2 AS a, 3 AS "q""uote"', "--out", str(out), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert out.read_text().splitlines() == ['a,a_1,"q""uote"', "1,2,3"]


def test_export_never_overwrites_without_force(home: Path, tmp_path: Path):
    out = tmp_path / "kept.csv"
    out.write_text("keep me\n")
    refused(tfm_sql(home, "SELECT 1 AS a", "--out", str(out)), "already exists", "--force")
    assert out.read_text() == "keep me\n"
    assert tfm_sql(home, "SELECT 1 AS a", "--out", str(out), "--force").exit_code == 0
    assert out.read_text().splitlines() == ["a", "1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv"]  # no partial file left behind


def test_export_never_writes_into_tfm_folders(home: Path, tmp_path: Path):
    link = tmp_path / "link-to-landing"
    link.symlink_to(home / "landing", target_is_directory=True)
    targets = [
        (home / "landing" / "new.csv", "inside the landing folder"),
        (home / "landing" / "cur.csv", "inside the landing folder"),
        (home / "landing" / ".." / "landing" / "sub.parquet", "inside the landing folder"),
        (link / "via-link.csv", "inside the landing folder"),
        (home / "export.parquet", "inside the warehouse's folder"),
        (home / "warehouse.duckdb", "inside the warehouse's folder"),
    ]
    for target, cause in targets:
        args = ["--out", str(target), "--force"] + (["--format", "csv"] if target.suffix == ".duckdb" else [])
        refused(tfm_sql(home, "SELECT 1 AS a, 2 AS b, 3 AS c", *args), cause)
    assert (home / "landing" / "cur.csv").read_text() == LANDING_CONTENT
    assert sorted(p.name for p in (home / "landing").iterdir()) == ["cur.csv"]
    assert not (home / "export.parquet").exists()
    refused(tfm_sql(home, "SELECT 1 AS a", "--out", str(tmp_path / "no" / "such.csv")), "does not exist")


def test_a_failing_export_leaves_no_file(home: Path, tmp_path: Path):
    out = tmp_path / "failed.parquet"
    refused(tfm_sql(home, "SELECT CAST('x' AS INTEGER) AS a", "--out", str(out)), "Conversion Error")
    assert list(tmp_path.iterdir()) == []


# --- the real command, and the writer's lock ----------------------------------------------------------


def run_tfm(home: Path, *args: str) -> subprocess.CompletedProcess:
    """The command in its own process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        check=False,
        cwd=REPO_ROOT,
        env={"TFM_HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_installed_command_refuses_copy(home: Path, tmp_path: Path):
    landing_file = home / "landing" / "cur.csv"
    copy = run_tfm(home, "sql", f"COPY (SELECT 1) TO '{landing_file}'")
    assert copy.returncode == 1, copy.stderr
    assert copy.stderr == "error: tfm sql runs one read-only SELECT; COPY writes files: use --out FILE\n"
    assert landing_file.read_text() == LANDING_CONTENT
    out = tmp_path / "ok.parquet"
    export = run_tfm(home, "sql", EXPORT_QUERY, "--out", str(out))
    assert export.returncode == 0, export.stderr
    assert pq.read_table(out).num_rows == len(ROWS)


HOLD_THE_LOCK = (
    "import sys, duckdb; c = duckdb.connect(sys.argv[1]); c.execute('CREATE TABLE t AS SELECT 7 AS x'); "
    "print('ready', flush=True); sys.stdin.read(); c.close()"
)


def test_waits_for_the_writer_and_names_it(tmp_path: Path):
    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(analyst.AnalystError, match=rf"still locked by .*\(PID {holder.pid}\)"):
            analyst.connect_readonly(path, wait_seconds=0.5)
        said: list[str] = []
        threading.Timer(1.0, holder.stdin.close).start()
        started = time.monotonic()
        con = analyst.connect_readonly(path, wait_seconds=60, log=said.append)
        try:
            assert con.execute("SELECT x FROM t").fetchall() == [(7,)]
        finally:
            con.close()
        assert time.monotonic() - started >= 0.5
        assert len(said) == 1 and said[0].startswith("waiting for the warehouse: it is locked by")
        assert f"(PID {holder.pid})" in said[0]
    finally:
        holder.kill()
        holder.wait()
