"""Which billing periods a build must rebuild: incremental refresh by billing period.

The dbt models with a row per charge, and the allocation built on them, are incremental by billing period
(``dbt_project/macros/incremental.sql``): they replace the periods listed in ``meta.dbt_build_plan`` whole
and keep every other period's rows. This module decides the list, from the ingest ledger:

- A period's **signature** is a hash of what ``meta.file_ledger`` says is loaded into it: every file's family,
  path, checksum and load time. Any load of the period (a new day of data, a restated month, a removed chunk)
  changes it, and so does pruning the period (it has no signature left).
- ``meta.dbt_period_state`` holds the signature each period had when the last **whole** build succeeded
  (``tfm build`` without ``--select``, or the close's build), with the fingerprint of the dbt project it was
  built with. A selected build rebuilds the changed periods of the models it selects and records nothing, so
  the next whole build rebuilds them everywhere.
- The periods to rebuild are those whose signature differs from the recorded one. A closed month whose data
  did not change is not rebuilt.
- Everything is rebuilt (``--full-refresh``) when nothing is recorded yet, when the project changed since
  (a model, macro, seed or dbt setting: ownership, allocation rules and tag aliases are seeds, and reach
  every period), or when asked (``tfm build --full-refresh``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

STATE_DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
-- The raw data each billing period had when the last whole build succeeded, and the dbt project it was built
-- with: what an incremental build compares against (orchestration/incremental.py).
CREATE TABLE IF NOT EXISTS meta.dbt_period_state (
    billing_period DATE NOT NULL,
    signature VARCHAR NOT NULL,
    project_fingerprint VARCHAR NOT NULL,
    built_at TIMESTAMP NOT NULL,
    run_id VARCHAR
);
-- The billing periods the running build rebuilds (read by dbt_project/macros/incremental.sql): one row per
-- period, or one row with a NULL period when none changed; empty outside a tfm build (every period).
CREATE TABLE IF NOT EXISTS meta.dbt_build_plan (
    billing_period DATE,
    run_id VARCHAR
);
"""

_SIGNATURES = """
SELECT billing_period,
       md5(string_agg(concat_ws('|', source_family, path, checksum, CAST(loaded_at AS VARCHAR)), '\n'
           ORDER BY source_family, path, checksum, loaded_at)) AS signature
FROM meta.file_ledger
GROUP BY billing_period
"""


@dataclass(frozen=True)
class BuildPlan:
    """What one dbt build rebuilds: everything (``full_refresh``), or the billing periods in ``periods``."""

    full_refresh: bool
    periods: tuple[str, ...]  # YYYY-MM, sorted; empty when nothing changed (or on a full refresh)
    reason: str

    def dbt_args(self) -> list[str]:
        """The arguments ``dbt build`` takes for this plan (the periods go through :func:`write_plan`).

        An incremental build leaves out the unit tests: they prove the models' logic on fixed inputs, which
        only a change to the project can break, and a changed project is always rebuilt whole, with them.
        """
        if self.full_refresh:
            return ["--full-refresh"]
        return ["--exclude", "test_type:unit"]


def project_fingerprint(manifest_path: Path | str) -> str:
    """A hash of everything in the dbt project that shapes the data: models, seeds, macros and their configs.

    Tests, docs and exposures are left out: they change no row.
    """
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    parts = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] in ("model", "seed", "snapshot"):
            config = {k: v for k, v in node.get("config", {}).items() if k not in ("meta", "tags", "docs")}
            config["meta"] = node.get("config", {}).get("meta", {})
            parts.append([unique_id, node["checksum"]["checksum"], config])
    for unique_id, macro in manifest.get("macros", {}).items():
        if macro.get("package_name") == manifest["metadata"].get("project_name", "tfm"):
            parts.append([unique_id, macro.get("macro_sql", "")])
    parts.sort(key=lambda part: part[0])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def ensure_state_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(STATE_DDL)


def current_signatures(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each loaded billing period (``YYYY-MM``) with the signature of its loaded files."""
    return {f"{period:%Y-%m}": signature for period, signature in con.execute(_SIGNATURES).fetchall()}


def plan_build(con: duckdb.DuckDBPyConnection, fingerprint: str, *, full_refresh: bool = False) -> BuildPlan:
    """The periods this build must rebuild, compared with what the last whole build recorded."""
    if full_refresh:
        return BuildPlan(True, (), "a full refresh was asked for")
    ensure_state_table(con)
    recorded = con.execute(
        "SELECT strftime(billing_period, '%Y-%m'), signature, project_fingerprint FROM meta.dbt_period_state"
    ).fetchall()
    if not recorded:
        return BuildPlan(True, (), "no whole build is recorded yet")
    if any(row[2] != fingerprint for row in recorded):
        return BuildPlan(True, (), "the dbt project changed since the last whole build")
    before = {period: signature for period, signature, _ in recorded}
    now = current_signatures(con)
    changed = sorted(p for p in before.keys() | now.keys() if before.get(p) != now.get(p))
    if not changed:
        return BuildPlan(False, (), "no billing period changed since the last whole build")
    return BuildPlan(False, tuple(changed), f"billing periods changed since the last whole build: {', '.join(changed)}")


def write_plan(con: duckdb.DuckDBPyConnection, plan: BuildPlan, run_id: str | None = None) -> None:
    """Tell the incremental models which periods to rebuild (``meta.dbt_build_plan``) for this build's dbt steps."""
    ensure_state_table(con)
    rows = [] if plan.full_refresh else [(f"{p}-01", run_id) for p in plan.periods] or [(None, run_id)]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM meta.dbt_build_plan")
        if rows:
            con.executemany("INSERT INTO meta.dbt_build_plan VALUES (CAST(? AS DATE), ?)", rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def clear_plan(con: duckdb.DuckDBPyConnection) -> None:
    """After a dbt step: dbt run by hand rebuilds every period again."""
    ensure_state_table(con)
    con.execute("DELETE FROM meta.dbt_build_plan")


def record_whole_build(con: duckdb.DuckDBPyConnection, fingerprint: str, run_id: str | None = None) -> int:
    """Record every period's signature after a whole build succeeded; returns how many periods."""
    ensure_state_table(con)
    signatures = current_signatures(con)
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM meta.dbt_period_state")
        con.executemany(
            "INSERT INTO meta.dbt_period_state VALUES (CAST(? || '-01' AS DATE), ?, ?, ?, ?)",
            [(period, signature, fingerprint, now, run_id) for period, signature in sorted(signatures.items())],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(signatures)
