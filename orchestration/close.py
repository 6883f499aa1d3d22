"""The monthly close: audit one billing period, then freeze its public marts as a close version and publish.

``tfm close --period YYYY-MM`` (and the Dagster job ``close``) first builds everything, as ``tfm build`` does,
then calls :func:`close_period` on the writer's connection:

1. **Audit.** Every close check of :func:`run_checks` runs on the period: the landing folder is loaded with
   nothing rejected or pending, every source family and account of the previous month is present, no day
   is missing, every invoice equals the period's billed cost to the cent, allocation, showback and chargeback
   conserve the FOCUS totals, unallocated spend and tag coverage are within their thresholds, the build's
   dbt tests passed and the Great Expectations suites pass. Severities (block, warn, off) and thresholds are
   the editable seed ``seeds/close_policy.csv``.
2. **Freeze.** Only if no blocking check failed: in one transaction, the period's rows of every mart in
   :data:`CLOSED_MARTS` are appended to ``closed_versions.<mart>`` under close version n+1 (earlier versions
   stay), with a row count and an order-independent checksum per mart in ``meta.close_manifest``, and a row
   in ``meta.period_closes``. ``closed.<mart>`` views show the latest version of each closed period.
3. **Publish.** The warehouse is published (:mod:`orchestration.publish`), so analysts see the new version.

Either way a report (Markdown and HTML) lands in ``$TFM_HOME/close/YYYY-MM/``: every check with its value,
threshold and a sample of offending rows; on success also the totals per team and the differences from the
previous version. A failed close writes nothing but its report, and exits non-zero.
"""

from __future__ import annotations

import html
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from orchestration.quality.checks import SAMPLE_ROWS, CheckResult
from orchestration.quoting import q
from orchestration.settings import Settings

Log = Callable[[str], None]

# Each public mart frozen by a close, with the expression of its billing period (a DATE) over its columns.
CLOSED_MARTS: dict[str, str] = {
    "fct_focus_charges": "x_billing_period",
    "fct_cost_allocation": "billing_period_start",
    "fct_showback_monthly": "billing_period_start",
    "fct_chargeback_monthly": "billing_period_start",
    "fct_budget_burn": "billing_period_start",
    "fct_unit_economics": "CAST(date_trunc('month', period_start) AS DATE)",
    "fct_commitment_kpis": "billing_period_start",
    "fct_cost_per_slo": "month_start",
    "fct_incident_costs": "month_start",
    "fct_finops_kpis": "billing_period_start",
    "fct_daily_cost_series": "CAST(date_trunc('month', usage_date) AS DATE)",
    "fct_cost_forecasts": "CAST(date_trunc('month', forecast_day) AS DATE)",
    "fct_cost_anomalies": "billing_period_start",
    "rpt_masked_tag_values": "billing_period_start",
}

CLOSE_DDL = """
CREATE SCHEMA IF NOT EXISTS closed;
CREATE SCHEMA IF NOT EXISTS closed_versions;
-- What each close version froze: per mart, its rows and an order-independent checksum of their content.
CREATE TABLE IF NOT EXISTS meta.close_manifest (
    billing_period DATE NOT NULL,
    close_version INTEGER NOT NULL,
    table_name VARCHAR NOT NULL,
    row_count BIGINT NOT NULL,
    checksum VARCHAR NOT NULL
);
-- Every close attempt, passed or failed, with where its report is.
CREATE TABLE IF NOT EXISTS meta.close_attempts (
    billing_period DATE NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    succeeded BOOLEAN NOT NULL,
    close_version INTEGER,
    blocking_failures INTEGER NOT NULL,
    warnings INTEGER NOT NULL,
    report VARCHAR NOT NULL
);
-- Every publication of the warehouse to the file analysts read.
CREATE TABLE IF NOT EXISTS meta.publications (
    published_at TIMESTAMP NOT NULL,
    reason VARCHAR NOT NULL,
    pid INTEGER
);
"""


def month_end(period: date) -> date:
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def label(period: date) -> str:
    return f"{period:%Y-%m}"


# --- policy -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    severity: str  # block | warn | off
    threshold: float | None
    description: str


def load_policy(con: duckdb.DuckDBPyConnection) -> dict[str, Policy]:
    """The close policy seed, as dbt loaded it (the close's build reloads it first)."""
    rows = con.execute("SELECT check_name, severity, threshold, description FROM main.close_policy").fetchall()
    return {name: Policy(severity, None if threshold is None else float(threshold), text) for name, severity, threshold, text in rows}


class _Checks:
    """Collects results, applying the policy: 'off' skips a check, 'warn' turns a failure into a warning."""

    def __init__(self, policy: dict[str, Policy], period: date):
        self.policy = policy
        self.period = period
        self.results: list[CheckResult] = []

    def rule(self, name: str) -> Policy:
        if name not in self.policy:
            raise KeyError(f"the close check {name!r} has no row in seeds/close_policy.csv; add one")
        return self.policy[name]

    def enabled(self, name: str) -> bool:
        return self.rule(name).severity != "off"

    def threshold(self, name: str) -> float:
        value = self.rule(name).threshold
        if value is None:
            raise ValueError(f"the close check {name!r} needs a threshold in seeds/close_policy.csv")
        return value

    def add(self, name: str, ok: bool, value: str, threshold: str | None = None, sample: list[dict] | None = None,
            target: str = "marts") -> None:  # fmt: skip
        rule = self.rule(name)
        blocking = rule.severity == "block"
        status = "pass" if ok else ("fail" if blocking else "warn")
        self.results.append(
            CheckResult(
                name=name, layer="close", target=target, status=status, blocking=blocking,
                description=rule.description, value=value, threshold=threshold,
                sample=[] if ok else list(sample or [])[:SAMPLE_ROWS], billing_period=label(self.period),
            )
        )  # fmt: skip

    def error(self, name: str, exc: BaseException) -> None:
        rule = self.rule(name)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        self.results.append(
            CheckResult(
                name=name, layer="close", target="marts", status="error", blocking=rule.severity == "block",
                description=rule.description, value=f"the check could not run: {first[:300]}",
                billing_period=label(self.period),
            )
        )  # fmt: skip


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _money(value: Decimal | float | None) -> str:
    return "n/a" if value is None else f"{Decimal(value):,.2f}"


# --- the checks ---------------------------------------------------------------------------------------------


def _period_ended(c: _Checks, con, period: date, today: date) -> None:
    end = month_end(period)
    c.add("period_ended", today >= end, f"today is {today}", f"on or after {end}", target=label(period))


def manifest_gaps(landing: Path, period: date) -> list[dict]:
    """Data files a delivery manifest of ``period`` lists that are not in the landing folder.

    Legacy CUR manifests list ``reportKeys``, CUR 2.0 and FOCUS exports ``dataFiles`` (S3 keys or URLs): a key
    matches a landed file when the file's path ends with the key's last folder (up to three) and name.
    """
    from orchestration.ingest.loader import delivery_manifests, period_hint

    gaps = []
    landed: set[str] | None = None  # read once, when a manifest of the period is found
    for manifest, body, _, keys in delivery_manifests(landing):
        start = body.get("billingPeriod", {}).get("start") if isinstance(body.get("billingPeriod"), dict) else None
        of = date.fromisoformat(str(start)[:7] + "-01") if start else period_hint(manifest, landing)
        if of != period:
            continue
        if landed is None:
            landed = {p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file()}
        for key in keys:
            parts = [part for part in key.split("/") if part]
            # The key's last folders and name (a name alone would match another period's file of that name).
            suffixes = {"/".join(parts[i:]) for i in range(max(len(parts) - 3, 0), max(len(parts) - 1, 1))}
            if not any(path == suffix or path.endswith("/" + suffix) for path in landed for suffix in suffixes):
                gaps.append({"manifest": str(manifest.relative_to(landing)), "missing_file": key})
    return gaps


def _landing_complete(c: _Checks, con, settings: Settings, period: date) -> None:
    from orchestration.ingest.loader import period_states

    states = [s for s in period_states(con) if s.period == period]
    pending = [{"source_family": s.family, "state": "not loaded: run tfm ingest"} for s in states if s.needs_load]
    orphaned = [{"source_family": s.family, "state": "its files left the landing folder"} for s in states if s.orphaned]
    rejected = _rows(
        con,
        "SELECT path, error FROM meta.landing_files WHERE status = 'rejected' "
        "AND (list_contains(billing_periods, ?) OR billing_periods IS NULL OR len(billing_periods) = 0) ORDER BY path",
        [period],
    )
    missing = manifest_gaps(settings.landing, period)
    problems = pending + orphaned + rejected + missing
    c.add(
        "landing_complete",
        not problems and bool(states),
        f"{len(states)} source(s) loaded, {len(pending)} pending, {len(orphaned)} orphaned, {len(rejected)} rejected "
        f"file(s), {len(missing)} file(s) a delivery manifest lists missing"
        if states else "nothing loaded for this period",
        "every file in the landing folder loaded, none rejected or pending, every file the manifests list landed",
        problems,
        target="landing",
    )  # fmt: skip


def _previous_month(period: date) -> date:
    return date(period.year - (period.month == 1), (period.month - 2) % 12 + 1, 1)


def _sources_present(c: _Checks, con, period: date) -> None:
    previous = _previous_month(period)
    billed_before = con.execute(
        "SELECT count(*) FROM marts.fct_focus_charges WHERE x_billing_period = ?", [previous]
    ).fetchone()[0]
    if not billed_before:
        c.add(
            "sources_present", True, f"nothing loaded for {label(previous)}: no earlier month to compare with",
            "every source family and account billed in the previous month",
        )  # fmt: skip
        return
    missing = _rows(
        con,
        """
        WITH accounts AS (
            SELECT x_billing_period AS period, x_source_family AS source_family, BillingAccountId AS billing_account_id,
                   SubAccountId AS sub_account_id, sum(abs(BilledCost)) AS billed
            FROM marts.fct_focus_charges WHERE x_billing_period IN (?, ?) GROUP BY ALL
        )
        SELECT before.source_family, before.billing_account_id, before.sub_account_id,
               before.billed AS previous_period_abs_billed_cost
        FROM accounts AS before
        LEFT JOIN accounts AS now
          ON now.period = ? AND now.source_family = before.source_family
         AND now.billing_account_id IS NOT DISTINCT FROM before.billing_account_id
         AND now.sub_account_id IS NOT DISTINCT FROM before.sub_account_id
        WHERE before.period = ? AND before.billed > 0 AND now.source_family IS NULL
        ORDER BY before.billed DESC
        """,
        [previous, period, period, previous],
    )
    expected = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT x_source_family, BillingAccountId, SubAccountId FROM marts.fct_focus_charges "
        "WHERE x_billing_period = ? AND BilledCost <> 0)",
        [previous],
    ).fetchone()[0]
    c.add(
        "sources_present",
        not missing,
        f"{expected - len(missing)} of {expected} source/account pairs billed in {label(previous)} are present",
        f"every source family and account billed in {label(previous)}",
        missing,
    )


def _days_complete(c: _Checks, con, period: date) -> None:
    missing = _rows(
        con,
        """
        WITH families AS (SELECT DISTINCT x_source_family AS source_family FROM marts.fct_focus_charges WHERE x_billing_period = ?),
        days AS (SELECT CAST(d AS DATE) AS day FROM range(CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), INTERVAL 1 DAY) AS t(d)),
        seen AS (
            SELECT DISTINCT x_source_family AS source_family, CAST(ChargePeriodStart AT TIME ZONE 'UTC' AS DATE) AS day
            FROM marts.fct_focus_charges WHERE x_billing_period = ? AND ChargeCategory = 'Usage'
        )
        SELECT f.source_family, d.day AS missing_day
        FROM families AS f CROSS JOIN days AS d
        LEFT JOIN seen AS s ON s.source_family = f.source_family AND s.day = d.day
        WHERE s.day IS NULL ORDER BY 1, 2
        """,
        [period, period, month_end(period), period],
    )
    days = (month_end(period) - period).days
    c.add(
        "days_complete",
        not missing,
        f"{len(missing)} missing source-day(s)" if missing else f"usage on all {days} days",
        f"usage charges on each of the {days} days, for every source",
        missing,
    )


def _invoices(c: _Checks, con, period: date) -> None:
    totals = _rows(
        con,
        """
        WITH charged AS (
            SELECT BillingAccountId AS billing_account_id, BillingCurrency AS currency, sum(BilledCost) AS billed_cost,
                   string_agg(DISTINCT InvoiceId, ', ') AS charge_invoice_ids, any_value(x_source_family) AS source_family
            FROM marts.fct_focus_charges WHERE x_billing_period = ? GROUP BY ALL
        ),
        invoiced AS (
            SELECT billing_account_id, currency, sum(invoice_total) AS invoice_total,
                   string_agg(invoice_id, ', ' ORDER BY invoice_id) AS invoice_ids
            FROM staging.stg_business__invoices WHERE billing_period_start = ? GROUP BY ALL
        )
        SELECT coalesce(c.billing_account_id, i.billing_account_id) AS billing_account_id,
               coalesce(c.currency, i.currency) AS currency, c.source_family, i.invoice_ids, c.charge_invoice_ids,
               i.invoice_total, c.billed_cost, c.billed_cost - i.invoice_total AS difference
        FROM charged AS c FULL JOIN invoiced AS i
          ON i.billing_account_id = c.billing_account_id AND i.currency = c.currency
        ORDER BY abs(coalesce(c.billed_cost, i.invoice_total)) DESC
        """,
        [period, period],
    )
    if c.enabled("invoices_present"):
        missing = [row for row in totals if row["invoice_total"] is None]
        c.add(
            "invoices_present",
            not missing,
            f"{len(totals) - len(missing)} of {len(totals)} billing account(s) invoiced",
            "an invoice for every billing account and currency charged in the period",
            [{k: row[k] for k in ("billing_account_id", "currency", "source_family", "billed_cost")} for row in missing],
            target="staging.stg_business__invoices",
        )
    if c.enabled("invoice_reconciliation"):
        tolerance = Decimal(str(c.threshold("invoice_reconciliation")))
        invoiced = [row for row in totals if row["invoice_total"] is not None]
        off = [row for row in invoiced if row["billed_cost"] is None or abs(row["difference"]) > tolerance]
        worst = max((abs(row["difference"]) for row in invoiced if row["difference"] is not None), default=None)
        c.add(
            "invoice_reconciliation",
            not off,
            f"{len(invoiced) - len(off)} of {len(invoiced)} invoice(s) match; largest difference {worst:.4f}"
            if invoiced else "no invoice landed for the period: nothing to reconcile",
            f"|sum(BilledCost) - invoice total| <= {tolerance} per billing account and currency",
            off,
            target="staging.stg_business__invoices",
        )


def _conservation(c: _Checks, con, period: date) -> None:
    tolerance = Decimal(str(c.threshold("allocation_conserves")))
    row = _rows(
        con,
        """
        SELECT (SELECT sum(EffectiveCost) FROM marts.fct_focus_charges WHERE x_billing_period = $p) AS focus_effective_cost,
               (SELECT sum(BilledCost) FROM marts.fct_focus_charges WHERE x_billing_period = $p) AS focus_billed_cost,
               (SELECT sum(effective_cost) FROM marts.fct_cost_allocation WHERE billing_period_start = $p) AS allocated_effective_cost,
               (SELECT sum(billed_cost) FROM marts.fct_cost_allocation WHERE billing_period_start = $p) AS allocated_billed_cost,
               (SELECT sum(total_cost) FROM marts.fct_showback_monthly WHERE billing_period_start = $p) AS showback_cost,
               (SELECT sum(total_cost) FROM marts.fct_chargeback_monthly WHERE billing_period_start = $p) AS chargeback_cost
        """.replace("$p", "$1"),
        [period],
    )[0]
    pairs = [
        ("allocated_effective_cost", "focus_effective_cost"),
        ("showback_cost", "focus_effective_cost"),
        ("allocated_billed_cost", "focus_billed_cost"),
        ("chargeback_cost", "focus_billed_cost"),
    ]
    off = []
    for mart, focus in pairs:
        a, b = row[mart], row[focus]
        if a is None or b is None or abs(a - b) > tolerance:
            off.append({"measure": mart, "value": a, "focus_total": b, "difference": None if a is None or b is None else a - b})
    c.add(
        "allocation_conserves",
        not off,
        f"FOCUS effective {_money(row['focus_effective_cost'])}, allocated {_money(row['allocated_effective_cost'])}, "
        f"showback {_money(row['showback_cost'])}; FOCUS billed {_money(row['focus_billed_cost'])}, "
        f"chargeback {_money(row['chargeback_cost'])}",
        f"allocation, showback and chargeback equal the FOCUS totals within {tolerance}",
        off,
    )


def _unallocated(c: _Checks, con, period: date) -> None:
    limit = c.threshold("unallocated_share")
    total, unallocated = con.execute(
        "SELECT sum(effective_cost), sum(effective_cost) FILTER (WHERE team = 'unallocated') "
        "FROM marts.fct_cost_allocation WHERE billing_period_start = ?",
        [period],
    ).fetchone()
    share = None if not total else float(100 * (unallocated or 0) / total)
    sample = _rows(
        con,
        "SELECT service_name, sub_account_id, sum(effective_cost) AS effective_cost FROM marts.fct_cost_allocation "
        "WHERE billing_period_start = ? AND team = 'unallocated' GROUP BY ALL ORDER BY 3 DESC LIMIT 10",
        [period],
    )
    c.add(
        "unallocated_share",
        share is not None and share <= limit,
        "no cost in the period" if share is None else f"{share:.2f}% ({_money(unallocated or 0)} of {_money(total)})",
        f"<= {limit:g}% of effective cost",
        sample,
    )


def _tag_coverage(c: _Checks, con, period: date) -> None:
    floor = c.threshold("tag_coverage")
    coverage = con.execute(
        "SELECT tag_coverage_pct FROM marts.fct_finops_kpis WHERE scope = 'organization' AND billing_period_start = ?",
        [period],
    ).fetchone()
    value = None if coverage is None or coverage[0] is None else float(coverage[0])
    sample = _rows(
        con,
        "SELECT x_source_family AS source_family, SubAccountId AS sub_account_id, ServiceName AS service_name, "
        "sum(EffectiveCost) AS untagged_effective_cost FROM marts.fct_focus_charges "
        "WHERE x_billing_period = ? AND x_team IS NULL AND ChargeCategory = 'Usage' GROUP BY ALL ORDER BY 4 DESC LIMIT 10",
        [period],
    )
    c.add(
        "tag_coverage",
        value is not None and value >= floor,
        "n/a (no taggable cost)" if value is None else f"{value:.1f}% of taggable cost carries the required tags",
        f">= {floor:g}%",
        sample,
    )


def _dbt_tests(c: _Checks, dbt_summary: dict | None) -> None:
    if dbt_summary is None:
        c.add("dbt_tests", False, "no dbt build ran in this close", "a passing dbt build", target="dbt")
        return
    failing = dbt_summary.get("fail", 0) + dbt_summary.get("error", 0)
    c.add(
        "dbt_tests",
        failing == 0 and dbt_summary.get("pass", 0) > 0,
        ", ".join(f"{n} {status}" for status, n in sorted(dbt_summary.items()) if status != "failures"),
        "no test failing or erroring (warnings are listed)",
        list(dbt_summary.get("failures", [])),
        target="dbt",
    )


def run_checks(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    period: date,
    *,
    dbt_summary: dict | None,
    today: date | None = None,
    log: Log | None = None,
) -> list[CheckResult]:
    """Every close check of ``period``, in the order the report lists them. Never raises for bad data."""
    from orchestration.ingest.loader import scan_landing

    checks = _Checks(load_policy(con), period)
    today = today or datetime.now(UTC).date()
    try:  # the landing folder as it is now, so that a file landed since the last ingest is seen
        scan_landing(con, settings.landing, log=log or (lambda _: None))
    except Exception as exc:  # noqa: BLE001 (reported as the check's error)
        checks.error("landing_complete", exc)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("period_ended", lambda: _period_ended(checks, con, period, today)),
        ("landing_complete", lambda: _landing_complete(checks, con, settings, period)),
        ("sources_present", lambda: _sources_present(checks, con, period)),
        ("days_complete", lambda: _days_complete(checks, con, period)),
        ("invoice_reconciliation", lambda: _invoices(checks, con, period)),
        ("allocation_conserves", lambda: _conservation(checks, con, period)),
        ("unallocated_share", lambda: _unallocated(checks, con, period)),
        ("tag_coverage", lambda: _tag_coverage(checks, con, period)),
        ("dbt_tests", lambda: _dbt_tests(checks, dbt_summary)),
    ]
    for name, step in steps:
        if name == "invoice_reconciliation":
            if not (checks.enabled("invoices_present") or checks.enabled("invoice_reconciliation")):
                continue
        elif not checks.enabled(name):
            continue
        if name == "landing_complete" and any(r.name == name for r in checks.results):
            continue  # the scan itself failed
        try:
            step()
        except Exception as exc:  # noqa: BLE001 (a check that cannot run is an error, reported, never a crash)
            checks.error(name, exc)
    return checks.results + _gx_checks(con, settings, period)


def _gx_checks(con: duckdb.DuckDBPyConnection, settings: Settings, period: date) -> list[CheckResult]:
    from orchestration.quality.suites import run_period_suites

    return run_period_suites(con, period, settings.data_docs)


# --- freezing ------------------------------------------------------------------------------------------------


def ensure_close_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(CLOSE_DDL)


def _columns(con, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()


def _archive_mart(con, mart: str, period_expr: str, period: date, version: int, closed_at: datetime) -> tuple[int, str]:
    """Append the period's rows of ``marts.<mart>`` to ``closed_versions.<mart>`` as ``version``."""
    archive = f"closed_versions.{q(mart)}"
    live = f"marts.{q(mart)}"
    if not _columns(con, "closed_versions", mart):
        con.execute(
            f"CREATE TABLE {archive} AS SELECT CAST(NULL AS INTEGER) AS close_version, "
            f"CAST(NULL AS TIMESTAMP) AS closed_at, * FROM {live} WHERE false"
        )
    archived = {name for name, _ in _columns(con, "closed_versions", mart)}
    for name, data_type in _columns(con, "marts", mart):  # a column the mart gained since an earlier close
        if name not in archived:
            con.execute(f"ALTER TABLE {archive} ADD COLUMN {q(name)} {data_type}")
    con.execute(
        f"INSERT INTO {archive} BY NAME SELECT CAST(? AS INTEGER) AS close_version, CAST(? AS TIMESTAMP) AS closed_at, * "
        f"FROM {live} WHERE {period_expr} = ?",
        [version, closed_at, period],
    )
    rows, checksum = con.execute(
        f"SELECT count(*), coalesce(bit_xor(hash(t)), 0)::UBIGINT::VARCHAR FROM "
        f"(SELECT * EXCLUDE (close_version, closed_at) FROM {archive} WHERE close_version = ? AND {period_expr} = ?) AS t",
        [version, period],
    ).fetchone()
    return rows, format(int(checksum), "016x")


def refresh_closed_views(con: duckdb.DuckDBPyConnection) -> None:
    """``closed.<mart>``: the latest close version of each closed period; ``closed.period_status``."""
    for mart, period_expr in CLOSED_MARTS.items():
        if _columns(con, "closed_versions", mart):
            con.execute(
                f"CREATE OR REPLACE VIEW closed.{q(mart)} AS SELECT * FROM closed_versions.{q(mart)} "
                f"QUALIFY close_version = max(close_version) OVER (PARTITION BY {period_expr})"
            )
    focus = "closed_versions.fct_focus_charges"
    if _columns(con, "closed_versions", "fct_focus_charges"):
        con.execute(
            f"""
            CREATE OR REPLACE VIEW closed.period_status AS
            WITH latest AS (
                SELECT billing_period, max(close_version) AS close_version, arg_max(closed_at, close_version) AS closed_at,
                       arg_max(closed_by, close_version) AS closed_by
                FROM meta.period_closes GROUP BY billing_period
            ),
            closed_cost AS (
                SELECT x_billing_period AS billing_period, close_version, sum(BilledCost) AS billed_cost,
                       sum(EffectiveCost) AS effective_cost
                FROM {focus} GROUP BY ALL
            ),
            live_cost AS (
                SELECT x_billing_period AS billing_period, sum(BilledCost) AS billed_cost, sum(EffectiveCost) AS effective_cost
                FROM marts.fct_focus_charges GROUP BY ALL
            ),
            restated AS (
                SELECT r.billing_period, max(r.restated_at) AS restated_at
                FROM meta.period_restatements AS r JOIN latest AS l USING (billing_period)
                WHERE r.restated_at > l.closed_at GROUP BY ALL
            )
            SELECT l.billing_period, l.close_version, l.closed_at, l.closed_by,
                   r.restated_at IS NOT NULL AS restated_since_close, r.restated_at,
                   c.billed_cost AS closed_billed_cost, v.billed_cost AS live_billed_cost,
                   v.billed_cost - c.billed_cost AS billed_cost_difference,
                   c.effective_cost AS closed_effective_cost, v.effective_cost AS live_effective_cost,
                   v.effective_cost - c.effective_cost AS effective_cost_difference
            FROM latest AS l
            LEFT JOIN closed_cost AS c ON c.billing_period = l.billing_period AND c.close_version = l.close_version
            LEFT JOIN live_cost AS v ON v.billing_period = l.billing_period
            LEFT JOIN restated AS r ON r.billing_period = l.billing_period
            """
        )


def _freeze(con, period: date, closed_by: str) -> tuple[int, datetime, list[tuple[str, int, str]]]:
    """Archive every closed mart's rows of ``period`` as the next version, in one transaction."""
    closed_at = datetime.now(UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        version = con.execute(
            "SELECT coalesce(max(close_version), 0) + 1 FROM meta.period_closes WHERE billing_period = ?", [period]
        ).fetchone()[0]
        manifest = []
        for mart, period_expr in CLOSED_MARTS.items():
            rows, checksum = _archive_mart(con, mart, period_expr, period, version, closed_at)
            manifest.append((mart, rows, checksum))
            con.execute(
                "INSERT INTO meta.close_manifest VALUES (?, ?, ?, ?, ?)", [period, version, mart, rows, checksum]
            )
        con.execute("INSERT INTO meta.period_closes VALUES (?, ?, ?, ?)", [period, version, closed_at, closed_by])
        refresh_closed_views(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return version, closed_at, manifest


# --- the close -------------------------------------------------------------------------------------------------


@dataclass
class CloseOutcome:
    period: date
    succeeded: bool
    checks: list[CheckResult]
    report_markdown: Path
    report_html: Path
    close_version: int | None = None
    closed_at: datetime | None = None
    manifest: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def blocking(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocks]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "warn"]

    def summary(self) -> str:
        if self.succeeded:
            return (
                f"closed {label(self.period)} as version {self.close_version}: {len(self.checks)} checks, "
                f"{len(self.warnings)} warning(s); report {self.report_markdown}"
            )
        names = ", ".join(f"{c.name} ({c.value})" for c in self.blocking[:3])
        more = f" and {len(self.blocking) - 3} more" if len(self.blocking) > 3 else ""
        return (
            f"{label(self.period)} was not closed: {len(self.blocking)} blocking check(s) failed: {names}{more}; "
            f"nothing was published; see {self.report_markdown}"
        )


def close_period(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    period: date,
    *,
    closed_by: str,
    dbt_summary: dict | None,
    today: date | None = None,
    log: Log | None = None,
    publish_after: bool = True,
) -> CloseOutcome:
    """Audit ``period``; if no blocking check fails, freeze it as the next close version and publish."""
    from orchestration.publish import publish

    log = log or (lambda _: None)
    ensure_close_schema(con)
    started = time.monotonic()
    checks = run_checks(con, settings, period, dbt_summary=dbt_summary, today=today, log=log)
    log(f"{len(checks)} close checks on {label(period)} in {time.monotonic() - started:.1f}s")
    attempted_at = datetime.now(UTC).replace(tzinfo=None)
    folder = settings.close_reports / label(period)
    folder.mkdir(parents=True, exist_ok=True)
    blocking = [c for c in checks if c.blocks]
    if blocking:
        stem = folder / f"failed-{attempted_at:%Y%m%dT%H%M%S}"
        outcome = CloseOutcome(period, False, checks, stem.with_suffix(".md"), stem.with_suffix(".html"))
        write_report(con, outcome)
        _record_attempt(con, outcome, attempted_at)
        return outcome
    version, closed_at, manifest = _freeze(con, period, closed_by)
    stem = folder / f"close-v{version}"
    outcome = CloseOutcome(
        period, True, checks, stem.with_suffix(".md"), stem.with_suffix(".html"), version, closed_at, manifest
    )
    write_report(con, outcome)
    _record_attempt(con, outcome, attempted_at)
    if publish_after:
        publish(con, settings, reason=f"close {label(period)} v{version}", log=log)
    return outcome


def build_failure_report(settings: Settings, period: date, problems: list[str]) -> CloseOutcome:
    """The report of a close whose build failed before any close check could run: nothing was closed."""
    attempted_at = datetime.now(UTC).replace(tzinfo=None)
    folder = settings.close_reports / label(period)
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"failed-{attempted_at:%Y%m%dT%H%M%S}"
    check = CheckResult(
        name="build", layer="dbt", target="dbt", status="fail", blocking=True,
        description="The close builds every model and runs every dbt test and blocking check before it audits the "
        "period; the build failed, so no close check ran.",
        value=f"{len(problems)} error(s)", threshold="a build without errors",
        sample=[{"error": problem} for problem in problems[:SAMPLE_ROWS]], billing_period=label(period),
    )  # fmt: skip
    outcome = CloseOutcome(period, False, [check], stem.with_suffix(".md"), stem.with_suffix(".html"))
    write_report(None, outcome)
    return outcome


def _record_attempt(con, outcome: CloseOutcome, attempted_at: datetime) -> None:
    con.execute(
        "INSERT INTO meta.close_attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            outcome.period, attempted_at, outcome.succeeded, outcome.close_version, len(outcome.blocking),
            len(outcome.warnings), str(outcome.report_markdown),
        ],
    )  # fmt: skip


# --- the report ---------------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        value = f"{value:,.2f}" if abs(value) >= Decimal("0.01") or value == 0 else f"{value:.6f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(row.get(name)) for name in names) + " |" for row in rows]
    return lines


def _team_totals(con, period: date, version: int | None) -> list[dict]:
    if version is None:
        return []
    return _rows(
        con,
        """
        WITH now AS (
            SELECT team, sum(total_cost) AS showback_cost FROM closed_versions.fct_showback_monthly
            WHERE billing_period_start = $1 AND close_version = $2 GROUP BY team
        ),
        bill AS (
            SELECT team, sum(total_cost) AS chargeback_cost FROM closed_versions.fct_chargeback_monthly
            WHERE billing_period_start = $1 AND close_version = $2 GROUP BY team
        ),
        before AS (
            SELECT team, sum(total_cost) AS showback_cost FROM closed_versions.fct_showback_monthly
            WHERE billing_period_start = $1 AND close_version = $2 - 1 GROUP BY team
        )
        SELECT coalesce(now.team, before.team) AS team, now.showback_cost, bill.chargeback_cost,
               before.showback_cost AS previous_version_showback_cost,
               coalesce(now.showback_cost, 0) - before.showback_cost AS difference_from_previous_version
        FROM now FULL JOIN before USING (team) LEFT JOIN bill ON bill.team = coalesce(now.team, before.team)
        ORDER BY now.showback_cost DESC NULLS LAST
        """,
        [period, version],
    )


def report_markdown(con, outcome: CloseOutcome) -> str:
    period = label(outcome.period)
    lines = [f"# Close of {period}", ""]
    if outcome.succeeded:
        lines += [
            (f"**Closed** as version {outcome.close_version} at {outcome.closed_at:%Y-%m-%d %H:%M:%S} UTC. "
             f"{len(outcome.checks)} checks passed or warned ({len(outcome.warnings)} warning(s)). Analysts read "
             f"these numbers from the `closed` schema (`closed.fct_showback_monthly`, ...); every version stays "
             f"in `closed_versions`."),
            "",
        ]
    else:
        lines += [
            (f"**Not closed.** {len(outcome.blocking)} blocking check(s) failed; nothing was frozen or published. "
             "Fix the cause (the samples below show where) and run `tfm close` again."),
            "",
        ]
    lines += ["## Checks", "", "| check | layer | status | blocks | value | threshold |", "|---|---|---|---|---|---|"]
    for c in outcome.checks:
        status = {"pass": "pass", "warn": "WARN", "fail": "**FAIL**", "error": "**ERROR**"}[c.status]
        lines.append(
            f"| {c.name} | {c.layer} | {status} | {'yes' if c.blocking else 'no'} | {_cell(c.value)} | {_cell(c.threshold)} |"
        )
    lines.append("")
    for c in outcome.checks:
        if c.status != "pass":
            lines += [f"### {c.name}: {c.status}", "", c.description, ""]
            if c.sample:
                lines += [f"Offending rows (first {len(c.sample)}):", "", *_table(c.sample), ""]
    if outcome.succeeded:
        lines += ["## Totals per team", ""]
        totals = _team_totals(con, outcome.period, outcome.close_version)
        lines += [*_table(totals), ""] if totals else ["No team totals (no showback rows).", ""]
        lines += ["## What was frozen", "", "| mart | rows | checksum |", "|---|---|---|"]
        lines += [f"| {mart} | {rows:,} | `{checksum}` |" for mart, rows, checksum in outcome.manifest]
        lines.append("")
    return "\n".join(lines)


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #1f2328; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }}
th, td {{ border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
code {{ font-size: 0.85rem; }}
</style></head><body>
{body}
</body></html>
"""


def render_html(markdown_text: str, title: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)
    return _HTML.format(title=html.escape(title), body=body)


def write_report(con, outcome: CloseOutcome) -> None:
    text = report_markdown(con, outcome)
    _write(outcome.report_markdown, text)
    _write(outcome.report_html, render_html(text, f"Close of {label(outcome.period)}"))
    data = outcome.report_markdown.with_suffix(".json")
    _write(data, json.dumps([c.__dict__ for c in outcome.checks], default=str, indent=1))


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_restatement_reports(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[tuple[str, Path]]:
    """For each closed period restated by the provider since its close: the live numbers beside the closed ones.

    Written at every publish until the period is closed again; ``closed.period_status`` says the same in SQL.
    """
    if not con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'closed' AND table_name = 'period_status'"
    ).fetchone()[0]:
        return []
    written = []
    for status in _rows(con, "SELECT * FROM closed.period_status WHERE restated_since_close ORDER BY 1", []):
        period = status["billing_period"]
        teams = _rows(
            con,
            """
            WITH closed AS (
                SELECT team, sum(total_cost) AS closed_showback_cost FROM closed.fct_showback_monthly
                WHERE billing_period_start = $1 GROUP BY team
            ),
            live AS (
                SELECT team, sum(total_cost) AS live_showback_cost FROM marts.fct_showback_monthly
                WHERE billing_period_start = $1 GROUP BY team
            )
            SELECT coalesce(closed.team, live.team) AS team, closed_showback_cost, live_showback_cost,
                   coalesce(live_showback_cost, 0) - coalesce(closed_showback_cost, 0) AS difference
            FROM closed FULL JOIN live USING (team) ORDER BY abs(difference) DESC, team
            """,
            [period],
        )
        loads = _rows(
            con,
            "SELECT source_family, restated_at, previous_rows, new_rows, previous_billed_cost, new_billed_cost "
            "FROM meta.period_restatements WHERE billing_period = ? AND restated_at > ? ORDER BY restated_at",
            [period, status["closed_at"]],
        )
        lines = [
            f"# {label(period)} was restated after its close",
            "",
            (f"Closed as version {status['close_version']} at {status['closed_at']:%Y-%m-%d %H:%M:%S} UTC; the "
             f"provider restated it at {status['restated_at']:%Y-%m-%d %H:%M:%S} UTC. The closed numbers "
             f"(`closed` schema) are unchanged; the live marts show the restated bill. Close the period again "
             f"(`tfm close --period {label(period)}`) to freeze the restated numbers as version "
             f"{status['close_version'] + 1}."),
            "",
            (f"Billed cost: closed {_money(status['closed_billed_cost'])}, live {_money(status['live_billed_cost'])}, "
             f"difference {_money(status['billed_cost_difference'])}. Effective cost: closed "
             f"{_money(status['closed_effective_cost'])}, live {_money(status['live_effective_cost'])}, difference "
             f"{_money(status['effective_cost_difference'])}."),
            "",
            "## Showback per team, closed and live",
            "",
            *_table(teams),
            "",
            "## Restating loads",
            "",
            *_table(loads),
            "",
        ]
        folder = settings.close_reports / label(period)
        folder.mkdir(parents=True, exist_ok=True)
        text = "\n".join(lines)
        _write(folder / "restated.md", text)
        _write(folder / "restated.html", render_html(text, f"{label(period)} restated after its close"))
        written.append((label(period), folder / "restated.md"))
    return written
