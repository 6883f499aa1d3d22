"""Data is never code in the dbt project, tag keys of any script survive, personal tag values are masked and
reported, and a line item loaded twice fails the build. One small warehouse built end to end through Dagster:
200 rows of the real legacy CUR sample with tag columns added, two FOCUS files cut from the real FOCUS sample
(one with crafted tags, one whose extra column headers are SQL), and a small generated CUR 2.0 month."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration.cli import run_build, run_ingest
from orchestration.close import ensure_close_schema
from orchestration.generator import GeneratorConfig, generate
from orchestration.ingest.schema import FOCUS_COLUMNS
from orchestration.ingest.warehouse import connect, ensure_schema
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT
from tests.conftest import FOCUS_CSV, LEGACY_CSV, query, tfm_environment

# Extra column headers of a FOCUS export that are SQL: if pasted into a query, the first drops a raw table,
# the second breaks every query it is in, the third creates a table.
HOSTILE_HEADERS = [
    'x_Evil"; DROP TABLE raw.aws_cur_legacy; --',
    'Evil"Col;',
    'x_frag") AS x, 1 AS "y"); CREATE TABLE raw.pwned_by_header AS SELECT 1 AS "z',
    "x_Ünïcödé 列",
]

# Crafted tags of the FOCUS file, by row, and the normalized tags each must end up with (None: masked).
HOSTILE_KEY = 'x"; DROP TABLE raw.aws_cur_legacy; --'
FOCUS_TAGS = [
    {
        "user:日本語キー": "値",
        "Ümlaut-Key": "Grüße",
        HOSTILE_KEY: "it's; \"quoted\"\nnext line",
        "note": "'); DROP TABLE raw.focus; --",
        "Owner": "Alice Smith",
        "contact": "mail alice.smith@example.com please",
        "aws:createdBy": "IAMUser:AIDAEXAMPLEALICE:alice",
        "team": "platform",
        "env": "prod",
    },
    {"Owner": "Alice Smith", "team": "search", "CostCenter": "CC-7"},
    {"team": "ops@example.com", "CreatedBy": "arn:aws:sts::123456789012:assumed-role/Admin/carol"},
]
EXPECTED_FOCUS_TAGS = [
    {
        "日本語キー": "値",
        "ümlaut_key": "Grüße",
        "x_drop_table_raw_aws_cur_legacy": "it's; \"quoted\"\nnext line",
        "note": "'); DROP TABLE raw.focus; --",
        "owner": None,
        "contact": None,
        "aws_createdby": None,
        "team": "platform",
        "env": "prod",
    },
    {"owner": None, "team": "search", "cost_center": "CC-7"},
    {"team": None, "createdby": None},
]
# A key written twice keeps its first value; a Tags value that is JSON but no object is checked whole.
DUPLICATE_KEY_TAGS = '{"dup": "first", "dup": "second"}'
NOT_AN_OBJECT_TAGS = '["dave@example.com"]'

# Tag columns added to the legacy CUR rows, by row number modulo 4.
LEGACY_TAG_COLUMNS = ["resourceTags/aws:createdBy", "resourceTags/user:Owner", "resourceTags/user:team",
                      "resourceTags/user:CostCenter"]
LEGACY_TAGS = [
    ["IAMUser:AIDAEXAMPLEALICE:alice", "Dana Scully", "platform", "CC-1"],
    ["arn:aws:iam::123456789012:user/bob", "", "search", ""],
    ["AssumedRole:AROAEXAMPLE:carol-session", "", "ops@example.com", ""],
    ["", "", "", ""],
]
PERSONAL = ["Alice Smith", "alice", "Dana Scully", "bob", "carol", "ops@example.com", "dave@example.com",
            "AIDAEXAMPLE", "AROAEXAMPLE", "123456789012:user"]
LEGACY_ROWS = 200
CENT = Decimal("0.01")


def token(value: str) -> str:
    return "masked:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


def focus_rows(count: int) -> tuple[list[str], list[dict[str, str]]]:
    """The first rows of the FOCUS sample's September 2024 billing period, as the file writes them."""
    with open(FOCUS_CSV, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = [row for row in reader if row["BillingPeriodStart"].startswith("2024-09")][:count]
        return list(reader.fieldnames or []), rows


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def write_focus_with_tags(path: Path) -> list[str]:
    """40 FOCUS rows, the first five with crafted Tags. Returns the Id of each crafted row."""
    header, rows = focus_rows(40)
    tags = [json.dumps(t, ensure_ascii=False) for t in FOCUS_TAGS] + [DUPLICATE_KEY_TAGS, NOT_AN_OBJECT_TAGS]
    for row, value in zip(rows, tags):
        row["Tags"] = value
    write_csv(path, header, rows)
    return [row["Id"] for row in rows[: len(tags)]]


def write_focus_with_hostile_headers(path: Path) -> list[dict[str, str]]:
    """10 FOCUS rows moved to July 2024 (their own billing period: a rejected file holds back only its own
    period) with the hostile extra columns. Returns the rows written."""
    header, rows = focus_rows(10)
    dated = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
    for n, row in enumerate(rows):
        for column in dated:
            row[column] = row[column].replace("2024-09", "2024-07").replace("2024-10", "2024-08")
        row["Tags"] = "NULL"
        row[HOSTILE_HEADERS[0]] = f"dropper {n}"
        row[HOSTILE_HEADERS[1]] = f"semi;colon {n}"
        row[HOSTILE_HEADERS[2]] = f"'quoted' {n}"
        row[HOSTILE_HEADERS[3]] = f"ünï {n}"
    write_csv(path, header + HOSTILE_HEADERS, rows)
    return rows


def write_legacy_with_tags(path: Path) -> list[dict[str, str]]:
    """The first LEGACY_ROWS rows of the real legacy CUR sample with tag columns. Returns the rows written."""
    with open(LEGACY_CSV, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or []) + LEGACY_TAG_COLUMNS
        rows = [row for _, row in zip(range(LEGACY_ROWS), reader)]
    for n, row in enumerate(rows):
        row.update(zip(LEGACY_TAG_COLUMNS, LEGACY_TAGS[n % len(LEGACY_TAGS)]))
    write_csv(path, header, rows)
    return rows


@contextmanager
def ingested_and_built(home: Path, populate):
    """conftest.built_warehouse, but handing ingest's problems back instead of asserting there are none: a file
    with hostile headers may be loaded or rejected. Yields (settings, ingest problems, build problems)."""
    with tfm_environment(home) as settings:
        populate(settings)
        ingest_problems = run_ingest(settings)
        yield settings, ingest_problems, run_build(settings)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The warehouse of every file, ingested and built once. Yields (settings, what was written, ingest's
    problems, the build's problems)."""
    home = tmp_path_factory.mktemp("dbt-safety")
    files: dict = {}

    def populate(settings):
        files["legacy"] = write_legacy_with_tags(settings.landing / "legacy" / "report.csv")
        files["focus_ids"] = write_focus_with_tags(settings.landing / "focus" / "tags.csv")
        files["hostile"] = write_focus_with_hostile_headers(settings.landing / "focus" / "hostile_headers.csv")
        generated = home / "generated"
        files["cur2"] = generate(GeneratorConfig(out=generated, fmt="cur2", months=1, rows=2_000, seed=8,
                                                 start="2026-02", usage_accounts=4))
        shutil.move(str(generated / "cur2"), str(settings.landing / "cur2"))

    with ingested_and_built(home, populate) as (settings, ingest_problems, build_problems):
        yield settings, files, ingest_problems, build_problems


def raw_totals(settings) -> dict:
    """Rows and billed cost of the raw table of each source (the legacy and FOCUS ones by file)."""
    return {
        "legacy": tuple(query(settings, "SELECT count(*), sum(line_item_unblended_cost) FROM raw.aws_cur_legacy")[0]),
        "cur2": tuple(query(settings, """
            SELECT count(*), sum(coalesce(line_item_net_unblended_cost, line_item_unblended_cost)) FROM raw.aws_cur2
        """)[0]),
        "focus_tags": tuple(query(settings, """
            SELECT count(*), sum(BilledCost) FROM raw.focus WHERE _source_file LIKE '%focus/tags.csv'
        """)[0]),
    }


def hostile_rows_loaded(settings) -> bool:
    return query(settings, "SELECT count(*) FROM raw.focus WHERE _source_file LIKE '%hostile_headers.csv'")[0][0] > 0


# --- 1. column headers are data --------------------------------------------------------------------------------


def test_sql_in_column_headers_is_never_executed(built):
    settings, files, ingest_problems, build_problems = built
    assert build_problems == []
    loaded = hostile_rows_loaded(settings)
    if loaded:
        assert ingest_problems == []
    else:
        # Rejected instead: with an error that names the file, and nothing else rejected.
        assert ingest_problems and all("hostile_headers.csv" in problem for problem in ingest_problems)
    # Nothing was dropped or created: the warehouse holds ingestion's tables and the dbt project's, no other.
    fresh = connect(settings.home / "fresh.duckdb")
    try:
        ensure_schema(fresh)
        ensure_close_schema(fresh)  # what publishing and the close record (meta.publications...)
        expected = set(fresh.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall())
    finally:
        fresh.close()
    manifest = json.loads(Path(dbt_manifest()).read_text())
    expected |= {(node["schema"], node["alias"] or node["name"]) for node in manifest["nodes"].values()
                 if node["resource_type"] in ("model", "seed")}
    actual = set(query(settings, "SELECT table_schema, table_name FROM information_schema.tables"))
    assert actual == expected
    # The other files' rows and costs are all there, in raw and in the FOCUS table.
    legacy_cost = sum(Decimal(row["lineItem/UnblendedCost"]) for row in files["legacy"])
    cur2 = files["cur2"]
    focus_cost = sum(Decimal(row["BilledCost"]) for row in focus_rows(40)[1])
    raw = raw_totals(settings)
    assert raw["legacy"] == (LEGACY_ROWS, legacy_cost)
    assert raw["cur2"][0] == cur2.total_rows and abs(raw["cur2"][1] - sum(cur2.cost_per_period.values())) < CENT
    assert raw["focus_tags"] == (40, focus_cost)
    mart = {family: (rows, cost) for family, rows, cost in query(settings, """
        SELECT x_source_family, count(*) FILTER (WHERE x_charge_origin = 'line_item'), sum(BilledCost)
        FROM marts.fct_focus_charges GROUP BY 1
    """)}
    assert mart["aws_cur_legacy"] == raw["legacy"]
    assert mart["aws_cur2"] == raw["cur2"]
    assert mart["focus"] == (40 + (10 if loaded else 0), focus_cost + (
        sum(Decimal(row["BilledCost"]) for row in files["hostile"]) if loaded else 0))


def test_extra_columns_with_sql_in_their_names_arrive_as_data(built):
    """Ingestion may keep the hostile headers as they are, rename them or reject the file. Whatever the raw
    table holds beyond FOCUS, every column arrives in x_source_extras under its raw name with every value."""
    settings, files, *_ = built
    known = {c.lower() for c in FOCUS_COLUMNS}
    extras = [name for (name,) in query(settings, """
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'raw' AND table_name = 'focus' ORDER BY ordinal_position
    """) if name.lower() not in known and not name.startswith("_") and name != "Id"]
    if not hostile_rows_loaded(settings):
        assert extras == []  # a rejected file leaves no column behind
        return
    assert len(extras) == len(HOSTILE_HEADERS)
    rows = query(settings, """
        SELECT x_source_extras FROM marts.fct_focus_charges
        WHERE x_source_file LIKE '%hostile_headers.csv' ORDER BY x_source_row
    """)
    assert len(rows) == len(files["hostile"]) == 10
    for (carried,), written in zip(rows, files["hostile"]):
        carried = json.loads(carried)
        assert carried["Id"] == written["Id"]
        assert [carried[name] for name in extras] == [written[header] for header in HOSTILE_HEADERS]
    if set(extras) == set(HOSTILE_HEADERS):  # kept as named in the file
        assert extras == HOSTILE_HEADERS


# --- 2. tag keys of any script, tags as data -------------------------------------------------------------------


def test_tag_keys_of_any_script_and_hostile_tags_come_through_as_data(built):
    settings, files, *_ = built
    ids = files["focus_ids"]
    by_id = {
        json.loads(extras)["Id"]: (x_tags, tags)
        for extras, x_tags, tags in query(settings, """
            SELECT x_source_extras, x_tags, Tags FROM marts.fct_focus_charges
            WHERE x_source_file LIKE '%tags.csv'
        """)
    }
    for charge_id, expected in zip(ids, EXPECTED_FOCUS_TAGS):
        x_tags, tags = by_id[charge_id]
        assert set(x_tags) == set(expected)
        assert json.loads(tags) == x_tags
        for key, value in expected.items():
            if value is None:
                assert x_tags[key].startswith("masked:") and len(x_tags[key]) == len("masked:") + 8, key
            else:
                assert x_tags[key] == value, key
    assert by_id[ids[3]][0] == {"dup": "first"}
    assert by_id[ids[4]][0] is None
    # Every row of the file keeps every key, normalized as in Python here.
    with open(REPO_ROOT / "seeds" / "tag_key_aliases.csv", encoding="utf-8") as fh:
        aliases = dict(csv.reader(fh))
    expected_keys = {}
    for row in focus_rows(40)[1][len(FOCUS_TAGS) + 2:]:
        tags = json.loads(row["Tags"]) if row["Tags"] != "NULL" else {}
        keys = {normalize_tag_key(key, aliases) for key, value in tags.items() if value and value.strip()}
        expected_keys[row["Id"]] = keys or None
    actual_keys = {charge_id: set(x_tags) if x_tags else None for charge_id, (x_tags, _) in by_id.items()
                   if charge_id in expected_keys}
    assert actual_keys == expected_keys
    assert sum(1 for keys in expected_keys.values() if keys) > 10


def normalize_tag_key(key: str, aliases: dict[str, str]) -> str:
    """The dbt project's tag key normalization (macro normalize_tag_key, then the aliases), for the tests."""
    lowered = key.strip(" ").lower()
    normalized = re.sub(r"[\W_]+", "_", re.sub(r"^user[:_]", "", lowered)).strip("_") or lowered
    return aliases.get(normalized, normalized)


# --- 3. personal tag values are masked and reported ------------------------------------------------------------


def test_personal_tag_values_are_masked_in_the_marts(built):
    settings, files, *_ = built
    ids = files["focus_ids"]
    first = FOCUS_TAGS[0]
    rows = {json.loads(extras)["Id"]: (x_tags, raw and json.loads(raw)) for extras, x_tags, raw in query(settings, """
        SELECT x_source_extras, x_tags, x_raw_tags FROM marts.fct_focus_charges WHERE x_source_file LIKE '%tags.csv'
    """)}
    x_tags, raw = rows[ids[0]]
    assert x_tags["owner"] == token("Alice Smith") == rows[ids[1]][0]["owner"]
    assert x_tags["contact"] == token(first["contact"])
    assert x_tags["aws_createdby"] == token(first["aws:createdBy"])
    assert raw == {**first, "Owner": token("Alice Smith"), "contact": token(first["contact"]),
                   "aws:createdBy": token(first["aws:createdBy"])}
    # An email masks even an allocation key; a Tags value that is no object is masked whole.
    assert rows[ids[2]][0]["team"] == token("ops@example.com")
    assert rows[ids[4]][1] == token(NOT_AN_OBJECT_TAGS)
    # Legacy CUR: the IAM users, the owner and the email, by raw key; cost center and plain teams untouched.
    legacy = query(settings, """
        SELECT x_source_row, x_tags, x_raw_tags, x_team, x_cost_center FROM marts.fct_focus_charges
        WHERE x_source_family = 'aws_cur_legacy' ORDER BY x_source_row
    """)
    assert len(legacy) == LEGACY_ROWS
    for source_row, x_tags, raw, team, cost_center in legacy:
        created_by, owner, tag_team, center = LEGACY_TAGS[(source_row - 1) % len(LEGACY_TAGS)]
        expected = {"aws_createdby": created_by and token(created_by), "owner": owner and token(owner),
                    "team": tag_team and (token(tag_team) if "@" in tag_team else tag_team),
                    "cost_center": center}
        expected = {k: v for k, v in expected.items() if v}
        assert (x_tags or {}) == expected, source_row
        assert team == expected.get("team") and cost_center == expected.get("cost_center")
    # No personal value is left anywhere in the tag columns of the FOCUS table.
    text = " ".join(str(v) for row in query(settings, """
        SELECT Tags::varchar, x_raw_tags::varchar, x_tags::varchar FROM marts.fct_focus_charges
    """) for v in row)
    assert [p for p in PERSONAL if p in text] == []


def test_generated_allocation_tags_are_not_masked(built):
    """The generator's aws_created_by (IAM users, role sessions) is masked; team, product, cost center and env
    reach the marts exactly as tagged, so ownership by tag allocates as before."""
    settings, *_ = built
    mismatches = query(settings, """
        SELECT count(*) FROM marts.fct_focus_charges AS f
        INNER JOIN raw.aws_cur2 AS r ON f.x_source_file = r._source_file AND f.x_source_row = r._source_row
        WHERE f.x_charge_origin = 'line_item' AND (
            f.x_team IS DISTINCT FROM nullif(trim(r.resource_tags['user_team']), '')
            OR f.x_product IS DISTINCT FROM nullif(trim(r.resource_tags['user_product']), '')
            OR f.x_tags['aws_created_by'] IS DISTINCT FROM
                CASE WHEN nullif(trim(r.resource_tags['aws_created_by']), '') IS NOT NULL
                    THEN 'masked:' || left(sha256(trim(r.resource_tags['aws_created_by'])), 8) END)
    """)
    assert mismatches == [(0,)]
    assert query(settings, """
        SELECT count(DISTINCT x_team), count(*) FILTER (WHERE x_tags['aws_created_by'] LIKE 'masked:%')
        FROM marts.fct_focus_charges WHERE x_source_family = 'aws_cur2'
    """)[0] >= (3, 1)
    direct = query(settings, """
        SELECT count(DISTINCT team), sum(effective_cost) FROM marts.fct_cost_allocation
        WHERE allocation_method = 'direct_tag'
    """)[0]
    assert direct[0] >= 3 and direct[1] > 0


def test_masked_values_are_reported_without_the_values(built):
    settings, files, *_ = built
    report = query(settings, """
        SELECT billing_period_start, source_family, tag_key, raw_tag_key, mask_reason, masking_rule_id,
               charge_count, masked_value_count, billed_cost, effective_cost
        FROM marts.rpt_masked_tag_values
    """)
    got = {(str(r[0]), r[1], r[2], r[3], r[5]): r[4:] for r in report}
    # Legacy CUR, recomputed from the rows written.
    legacy_cost: dict = {}
    for n, row in enumerate(files["legacy"]):
        created_by, owner, team, _ = LEGACY_TAGS[n % len(LEGACY_TAGS)]
        cost = Decimal(row["lineItem/UnblendedCost"])
        for key, raw_key, value, reason, rule in [
            ("aws_createdby", "aws:createdBy", created_by, "iam_user",
             "aws_principal_arn" if created_by.startswith("arn:") else "aws_principal"),
            ("owner", "user:Owner", owner, "person_name", "owner"),
            ("team", "user:team", team, "email", "email"),
        ]:
            if value and (key != "team" or "@" in value):
                entry = legacy_cost.setdefault((key, raw_key, reason, rule), [0, set(), Decimal(0)])
                entry[0] += 1
                entry[1].add(value)
                entry[2] += cost
    for (key, raw_key, reason, rule), (count, values, cost) in legacy_cost.items():
        row = got.pop(("2023-11-01", "aws_cur_legacy", key, raw_key, rule))
        assert row[:4] == (reason, rule, count, len(values))
        assert row[4] == cost and row[5] == cost  # DECIMAL, exact
    # FOCUS: owner twice (one person), contact, aws:createdBy, team's email, CreatedBy's STS ARN, the non-object.
    assert {k[1] for k in got} == {"focus", "aws_cur2"}
    focus = {(k[2], k[3]): v[:4] for k, v in got.items() if k[1] == "focus"}
    assert focus == {
        ("owner", "Owner"): ("person_name", "owner", 2, 1),
        ("contact", "contact"): ("email", "email", 1, 1),
        ("aws_createdby", "aws:createdBy"): ("iam_user", "aws_principal", 1, 1),
        ("team", "team"): ("email", "email", 1, 1),
        ("createdby", "CreatedBy"): ("iam_user", "aws_principal_arn", 1, 1),
        (None, None): ("email", "email", 1, 1),
    }
    generated = {k[2] for k in got if k[1] == "aws_cur2"}
    assert generated == {"aws_created_by"}
    text = " ".join(str(v) for row in query(settings, "SELECT * FROM marts.rpt_masked_tag_values") for v in row)
    assert [p for p in PERSONAL if p in text] == [] and "masked:" not in text


# --- 4. a line item loaded twice fails the build ---------------------------------------------------------------


def dbt_manifest() -> str:
    from orchestration.defs.dbt import dbt_project

    return str(dbt_project.manifest_path)


def run_duplicate_test(warehouse: Path, work: Path) -> tuple[int, list[tuple]]:
    """Run the dbt test on a warehouse; returns dbt's exit code and the duplicates it stored."""
    dbt = Path(sys.executable).parent / "dbt"
    env = {**os.environ, "TFM_WAREHOUSE_PATH": str(warehouse)}
    result = subprocess.run(
        [str(dbt), "build", "--select", "assert_line_items_appear_once_per_billing_period", "--store-failures",
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(REPO_ROOT),
         "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        env=env, capture_output=True, text=True, check=False,
    )
    con = connect(warehouse, read_only=True)
    try:
        stored = con.execute("""
            SELECT table_schema FROM information_schema.tables
            WHERE table_name = 'assert_line_items_appear_once_per_billing_period'
        """).fetchall()
        rows = con.execute(f"""
            SELECT source_family, billing_period, occurrences, source_files
            FROM "{stored[0][0]}".assert_line_items_appear_once_per_billing_period ORDER BY ALL
        """).fetchall() if stored else []
    finally:
        con.close()
    return result.returncode, rows


def test_a_file_loaded_twice_under_two_names_fails_the_build(built, tmp_path):
    settings, *_ = built
    # A copy of the warehouse, under the same file name (dbt's views name their catalog after it).
    copy = tmp_path / "copy" / settings.warehouse.name
    copy.parent.mkdir()
    shutil.copy2(settings.warehouse, copy)
    con = connect(copy)
    try:
        # The same legacy CUR file and the same FOCUS file loaded again under another name.
        for table, source in [("aws_cur_legacy", "%legacy/report.csv"), ("focus", "%focus/tags.csv")]:
            con.execute(f"""
                INSERT INTO raw.{table}
                SELECT * REPLACE ('again/' || _source_file AS _source_file) FROM raw.{table}
                WHERE _source_file LIKE ?
            """, [source])
    finally:
        con.close()
    code, duplicates = run_duplicate_test(copy, tmp_path)
    assert code == 1
    by_family: dict = {}
    for family, _, occurrences, source_files in duplicates:
        assert occurrences == 2 and source_files.count(",") == 1 and "again/" in source_files
        by_family[family] = by_family.get(family, 0) + 1
    assert by_family == {"aws_cur": LEGACY_ROWS, "focus": 40}
