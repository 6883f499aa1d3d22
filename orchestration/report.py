"""The monthly cost report: ``tfm report --period YYYY-MM [--out FILE.html]``.

One self-contained HTML page for a billing period, read from the published warehouse (the last build whose
every blocking check passed; ``--live`` reads the warehouse as it is now), opened read-only exactly as
``tfm sql`` opens it (:func:`orchestration.analyst.connect_readonly`). It shows:

- spend by team (showback, chargeback beside it) and by service, shared costs included;
- the daily trend with the spend forecast's fan (80% and 95% prediction intervals of ``fct_cost_forecasts``)
  to the month end, the budget line, and the anomaly episodes on the timeline with their root causes and
  dollar impact;
- budget burn per team with its alert level;
- unit cost and cost per SLO;
- the KPI scorecard beside last month's;
- unallocated spend and tag coverage;
- the close status of the period.

Money in tables is exact: the marts' DECIMAL values, rounded to the cent only when displayed (half up), with
the exact value in each cell's ``data-exact`` attribute. Charts are plotly figures; plotly.js is embedded
once in the page, so the file opens offline and loads nothing. The page is a Jinja2 template
(``report_templates/monthly.html.j2``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb

CENT = Decimal("0.01")
ZERO = Decimal(0)
# Every chart of the page, in order: (id, title). The template places each under its section.
CHART_IDS = (
    "team-spend",
    "service-spend",
    "daily-trend",
    "month-to-date",
    "budget-burn",
    "unit-cost",
    "cost-per-slo",
    "unallocated",
    "tag-coverage",
)
PALETTE = ("#2f6fb0", "#e07b39", "#3a9e6f", "#c44e52", "#8172b2", "#937860", "#da8bc3", "#8c8c8c", "#ccb974",
           "#64b5cd")  # fmt: skip
TOP_SERVICES = 12


class ReportError(Exception):
    """The report cannot be made; ``str()`` is the one-line cause shown after ``error:``."""


# --- formatting -------------------------------------------------------------------------------------------


def cents(value: Decimal | float | None) -> Decimal | None:
    """A money value rounded to the cent, half up (display only: the marts keep every digit)."""
    if value is None:
        return None
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP) + ZERO  # + 0 turns -0.00 into 0.00


def money(value: Decimal | float | None) -> str:
    """``12,345.68``; empty for NULL."""
    rounded = cents(value)
    return "" if rounded is None else f"{rounded:,.2f}"


def exact(value: Decimal | float | None) -> str:
    """The exact value as the warehouse holds it (``data-exact``)."""
    if value is None:
        return ""
    return format(Decimal(value).normalize(), "f") if isinstance(value, Decimal) else str(value)


def pct(value: float | Decimal | None, digits: int = 1) -> str:
    if value is None:
        return ""
    return f"{float(value):,.{digits}f}%"


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}"


def ratio(value: float | None) -> str:
    """A unit cost (a ratio, DOUBLE in the marts): four significant digits."""
    if value is None:
        return ""
    return f"{value:,.4f}" if abs(value) < 100 else f"{value:,.2f}"


def month_label(period: date) -> str:
    return f"{period:%Y-%m}"


def previous_month(period: date) -> date:
    return (period - timedelta(days=1)).replace(day=1)


def next_month(period: date) -> date:
    return (period.replace(day=28) + timedelta(days=4)).replace(day=1)


def parse_period(text: str) -> date:
    try:
        period = date.fromisoformat(f"{text}-01")
    except ValueError:
        raise ReportError(f"{text!r} is not a billing period; use YYYY-MM (e.g. 2026-03)") from None
    if f"{period:%Y-%m}" != text:
        raise ReportError(f"{text!r} is not a billing period; use YYYY-MM (e.g. 2026-03)")
    return period


# --- reading the warehouse --------------------------------------------------------------------------------


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    relation = con.execute(sql, params or [])
    names = [d[0] for d in relation.description]
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def periods_with_data(con: duckdb.DuckDBPyConnection) -> list[date]:
    """The billing periods the FOCUS mart holds charges for."""
    return [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT x_billing_period FROM marts.fct_focus_charges WHERE x_billing_period IS NOT NULL "
            "ORDER BY 1"
        ).fetchall()
    ]


def _period_list(periods: list[date]) -> str:
    return ", ".join(month_label(p) for p in periods)


@dataclass
class Chart:
    id: str
    title: str
    figure: object | None  # a plotly Figure, or None when the period has nothing to draw
    empty_note: str = ""
    note: str = ""
    html: str = ""


@dataclass
class ReportData:
    period: date
    generated_at: datetime
    source: str
    published_at: datetime | None
    currency: str
    other_currencies: list[dict]
    totals: dict
    previous_totals: dict | None
    teams: list[dict]
    services: list[dict]
    daily: list[dict]
    forecast: dict
    anomalies: list[dict]
    budgets: list[dict]
    unit_costs: list[dict]
    slos: list[dict]
    incidents: list[dict]
    kpis: list[dict]
    team_kpis: list[dict]
    unallocated: dict
    unallocated_sources: list[dict]
    tag_coverage: list[dict]
    close: dict
    charts: list[Chart] = field(default_factory=list)

    @property
    def label(self) -> str:
        return month_label(self.period)


def collect(
    con: duckdb.DuckDBPyConnection, period: date, *, source: str, now: datetime | None = None
) -> ReportData:
    """Everything the page shows for ``period``, read from the marts (raises ``ReportError`` without data)."""
    if not _exists(con, "marts", "fct_focus_charges"):
        raise ReportError("the warehouse has no marts yet; run 'tfm build' (or 'tfm demo') first")
    periods = periods_with_data(con)
    if period not in periods:
        if not periods:
            raise ReportError(
                f"no billing period has data in {source}; run 'tfm ingest' and 'tfm build' first"
            )
        raise ReportError(
            f"no data for billing period {month_label(period)}; the periods with data are {_period_list(periods)}"
        )
    before = previous_month(period)
    end = next_month(period)
    currencies = _rows(
        con,
        """
        SELECT coalesce(BillingCurrency, '') AS currency, count(*) AS charges, sum(BilledCost) AS billed_cost,
               sum(EffectiveCost) AS effective_cost, sum(ListCost) AS list_cost
        FROM marts.fct_focus_charges WHERE x_billing_period = ?
        GROUP BY ALL ORDER BY effective_cost DESC NULLS LAST, currency
        """,
        [period],
    )
    currency = currencies[0]["currency"]
    previous = _rows(
        con,
        """
        SELECT count(*) AS charges, sum(BilledCost) AS billed_cost, sum(EffectiveCost) AS effective_cost,
               sum(ListCost) AS list_cost
        FROM marts.fct_focus_charges WHERE x_billing_period = ? AND coalesce(BillingCurrency, '') = ?
        HAVING count(*) > 0
        """,
        [before, currency],
    )
    published_at = None
    if _exists(con, "meta", "publications"):
        published_at = con.execute("SELECT max(published_at) FROM meta.publications").fetchone()[0]
    data = ReportData(
        period=period,
        generated_at=(now or datetime.now(UTC)).replace(microsecond=0),
        source=source,
        published_at=published_at,
        currency=currency,
        other_currencies=currencies[1:],
        totals=currencies[0],
        previous_totals=previous[0] if previous else None,
        teams=_teams(con, period, before, currency),
        services=_services(con, period, currency),
        daily=_daily(con, period, end, currency),
        forecast=_forecast(con, period, end, currency),
        anomalies=_anomalies(con, period, end, currency),
        budgets=_budgets(con, period),
        unit_costs=_unit_costs(con, period, before, end),
        slos=_slos(con, period, before),
        incidents=_incidents(con, period),
        kpis=_kpis(con, period, before),
        team_kpis=_team_kpis(con, period),
        unallocated=_unallocated(con, period, before, currency),
        unallocated_sources=_unallocated_sources(con, period, currency),
        tag_coverage=_tag_coverage(con, period),
        close=_close(con, period),
    )
    data.charts = charts(data)
    return data


def _teams(con, period: date, before: date, currency: str) -> list[dict]:
    return _rows(
        con,
        """
        WITH showback AS (
            SELECT team, any_value(team_name) AS team_name, string_agg(DISTINCT cost_center, ', ') AS cost_centers,
                   sum(direct_tag_cost) AS direct_tag_cost, sum(direct_account_cost) AS direct_account_cost,
                   sum(direct_cost) AS direct_cost, sum(shared_even_cost) AS shared_even_cost,
                   sum(shared_proportional_cost) AS shared_proportional_cost,
                   sum(shared_driver_cost) AS shared_driver_cost, sum(shared_fixed_cost) AS shared_fixed_cost,
                   sum(shared_cost) AS shared_cost, sum(unallocated_cost) AS unallocated_cost,
                   sum(total_cost) AS total_cost, sum(period_share_pct) AS period_share_pct,
                   string_agg(DISTINCT allocation_rule_ids, ', ') AS allocation_rule_ids
            FROM marts.fct_showback_monthly
            WHERE billing_period_start = $period AND billing_currency = $currency
            GROUP BY team
        ),
        bill AS (
            SELECT team, sum(direct_cost) AS billed_direct_cost, sum(shared_cost) AS billed_shared_cost,
                   sum(total_cost) AS billed_total_cost
            FROM marts.fct_chargeback_monthly
            WHERE billing_period_start = $period AND billing_currency = $currency
            GROUP BY team
        ),
        last AS (
            SELECT team, sum(total_cost) AS previous_total_cost
            FROM marts.fct_showback_monthly
            WHERE billing_period_start = $before AND billing_currency = $currency
            GROUP BY team
        )
        SELECT showback.*, bill.billed_direct_cost, bill.billed_shared_cost, bill.billed_total_cost,
               last.previous_total_cost, showback.total_cost - last.previous_total_cost AS change_cost
        FROM showback LEFT JOIN bill USING (team) LEFT JOIN last USING (team)
        ORDER BY showback.team = 'unallocated', showback.total_cost DESC, showback.team
        """,
        {"period": period, "before": before, "currency": currency},
    )


def _services(con, period: date, currency: str) -> list[dict]:
    rows = _rows(
        con,
        """
        SELECT service_name,
               sum(effective_cost) FILTER (WHERE allocation_method IN ('direct_tag', 'direct_account'))
                   AS owned_cost,
               sum(effective_cost) FILTER (WHERE allocation_method LIKE 'shared_%') AS shared_cost,
               sum(effective_cost) FILTER (WHERE allocation_method = 'unallocated') AS unallocated_cost,
               sum(effective_cost) AS effective_cost, sum(billed_cost) AS billed_cost,
               count(DISTINCT team) FILTER (WHERE team <> 'unallocated') AS teams
        FROM marts.fct_cost_allocation
        WHERE billing_period_start = ? AND billing_currency = ?
        GROUP BY service_name
        ORDER BY effective_cost DESC, service_name
        """,
        [period, currency],
    )
    by_team = _rows(
        con,
        """
        SELECT service_name, team, sum(effective_cost) AS effective_cost
        FROM marts.fct_cost_allocation
        WHERE billing_period_start = ? AND billing_currency = ?
        GROUP BY ALL
        """,
        [period, currency],
    )
    teams: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in by_team:
        teams[row["service_name"]][row["team"]] = row["effective_cost"]
    for row in rows:
        row["by_team"] = teams.get(row["service_name"], {})
        for name in ("owned_cost", "shared_cost", "unallocated_cost"):
            row[name] = row[name] or ZERO
    return rows


def _daily(con, period: date, end: date, currency: str) -> list[dict]:
    return _rows(
        con,
        """
        SELECT usage_date, effective_cost FROM marts.fct_daily_cost_series
        WHERE series_level = 'organization' AND series_key = 'all' AND currency = ?
          AND usage_date >= ? AND usage_date < ?
        ORDER BY usage_date
        """,
        [currency, period, end],
    )


def _forecast(con, period: date, end: date, currency: str) -> dict:
    """The forecast of the organization's daily cost for the rest of the period: the latest made on or before
    the period's last day of data (at the earliest as of the last day of the month before) with days left in the
    period. For a month the data covers to its end, that is the forecast made before it began (beside what
    happened); for the month in progress, the fan from the last day of data to the month end."""
    last_day = con.execute(
        "SELECT max(usage_date) FROM marts.fct_daily_cost_series WHERE series_level = 'organization' "
        "AND currency = ? AND usage_date >= ? AND usage_date < ?",
        [currency, period, end],
    ).fetchone()[0]
    made = con.execute(
        """
        SELECT max(forecast_date) FROM marts.fct_cost_forecasts
        WHERE series_level = 'organization' AND series_key = 'all' AND currency = ?
          AND forecast_date >= ? AND forecast_date <= least(?, ?) AND forecast_day >= ? AND forecast_day < ?
        """,
        [currency, period - timedelta(days=1), last_day or period, end - timedelta(days=2), period, end],
    ).fetchone()[0]
    if made is None:
        return {"made_on": None, "rows": [], "model": None}
    rows = _rows(
        con,
        """
        SELECT forecast_day, forecast_cost, forecast_lo_80, forecast_hi_80, forecast_lo_95, forecast_hi_95,
               actual_cost, model, backtest_mase, backtest_wape, backtest_coverage_80, is_backfill, made_at
        FROM marts.fct_cost_forecasts
        WHERE series_level = 'organization' AND series_key = 'all' AND currency = ? AND forecast_date = ?
          AND forecast_day >= ? AND forecast_day < ?
        ORDER BY forecast_day
        """,
        [currency, made, period, end],
    )
    first = rows[0] if rows else {}
    return {
        "made_on": made,
        "rows": rows,
        "model": first.get("model"),
        "mase": first.get("backtest_mase"),
        "wape": first.get("backtest_wape"),
        "coverage_80": first.get("backtest_coverage_80"),
        "is_backfill": first.get("is_backfill"),
        "total": sum((r["forecast_cost"] for r in rows), ZERO),
        "total_lo_80": sum((r["forecast_lo_80"] for r in rows), ZERO),
        "total_hi_80": sum((r["forecast_hi_80"] for r in rows), ZERO),
        "actual": sum((r["actual_cost"] for r in rows if r["actual_cost"] is not None), ZERO),
        "days_known": sum(1 for r in rows if r["actual_cost"] is not None),
    }


def _anomalies(con, period: date, end: date, currency: str) -> list[dict]:
    rows = _rows(
        con,
        """
        SELECT anomaly_id, service_name, sub_account_id, currency, start_date, end_date, days, actual_cost,
               expected_cost, impact, impact_pct, peak_date, peak_impact, max_score, direction, severity, status,
               top_cause_dimension, top_cause_value, top_cause_share, primary_team, CAST(root_causes AS VARCHAR)
               AS root_causes
        FROM marts.fct_cost_anomalies
        WHERE start_date < ? AND end_date >= ? AND currency = ?
        ORDER BY abs(impact) DESC, start_date
        """,
        [end, period, currency],
    )
    for row in rows:
        row["causes"] = json.loads(row.pop("root_causes") or "[]")
    return rows


def _budgets(con, period: date) -> list[dict]:
    latest = _rows(
        con,
        """
        SELECT b.team, t.team_name, b.as_of_date, b.days_elapsed, b.days_in_month, b.budget_amount,
               b.budget_currency, b.mtd_effective_cost, b.daily_burn_rate, b.projected_month_end,
               b.budget_consumed_pct, b.projected_consumed_pct, b.alert_level, b.forecast_made_on,
               b.forecast_month_end, b.forecast_month_end_lo_80, b.forecast_month_end_hi_80,
               b.forecast_consumed_pct
        FROM marts.fct_budget_burn AS b LEFT JOIN marts.dim_teams AS t USING (team)
        WHERE b.billing_period_start = ? AND b.is_latest
        ORDER BY b.budget_consumed_pct DESC NULLS LAST, b.team
        """,
        [period],
    )
    daily = _rows(
        con,
        """
        SELECT team, as_of_date, mtd_effective_cost, budget_amount, budget_consumed_pct
        FROM marts.fct_budget_burn WHERE billing_period_start = ? ORDER BY team, as_of_date
        """,
        [period],
    )
    series: dict[str, list[dict]] = defaultdict(list)
    for row in daily:
        series[row["team"]].append(row)
    for row in latest:
        row["days"] = series.get(row["team"], [])
    return latest


def _unit_costs(con, period: date, before: date, end: date) -> list[dict]:
    months = _rows(
        con,
        """
        SELECT u.product, p.product_name, p.owning_team, u.effective_cost, u.direct_effective_cost,
               u.shared_effective_cost, u.requests, u.transactions, u.active_customers, u.cost_per_1k_requests,
               u.cost_per_transaction, u.cost_per_active_customer,
               l.cost_per_1k_requests AS previous_cost_per_1k_requests,
               l.cost_per_transaction AS previous_cost_per_transaction,
               l.cost_per_active_customer AS previous_cost_per_active_customer
        FROM marts.fct_unit_economics AS u
        LEFT JOIN marts.dim_products AS p USING (product)
        LEFT JOIN marts.fct_unit_economics AS l
               ON l.product = u.product AND l.period_grain = 'month' AND l.period_start = $before
        WHERE u.period_grain = 'month' AND u.period_start = $period
        ORDER BY u.effective_cost DESC NULLS LAST, u.product
        """,
        {"period": period, "before": before},
    )
    days = _rows(
        con,
        """
        SELECT product, period_start AS day, cost_per_transaction, cost_per_1k_requests, transactions
        FROM marts.fct_unit_economics
        WHERE period_grain = 'day' AND period_start >= ? AND period_start < ?
        ORDER BY product, period_start
        """,
        [period, end],
    )
    series: dict[str, list[dict]] = defaultdict(list)
    for row in days:
        series[row["product"]].append(row)
    for row in months:
        row["days"] = series.get(row["product"], [])
    return months


def _slos(con, period: date, before: date) -> list[dict]:
    current = _rows(
        con,
        """
        SELECT s.service, s.sli_name, s.slo_target, s.attainment, s.slo_met, s.days_measured, s.total_events,
               s.good_events, s.error_budget_remaining_pct, s.effective_cost, s.cost_per_1k_good_events,
               l.cost_per_1k_good_events AS previous_cost_per_1k_good_events, l.attainment AS previous_attainment
        FROM marts.fct_cost_per_slo AS s
        LEFT JOIN marts.fct_cost_per_slo AS l
               ON l.service = s.service AND l.sli_name = s.sli_name AND l.month_start = $before
        WHERE s.month_start = $period
        ORDER BY s.service, s.sli_name
        """,
        {"period": period, "before": before},
    )
    history = _rows(
        con,
        """
        SELECT service, sli_name, month_start, cost_per_1k_good_events, attainment
        FROM marts.fct_cost_per_slo
        WHERE month_start <= ? AND month_start > ?
        ORDER BY service, sli_name, month_start
        """,
        [period, period - timedelta(days=366)],
    )
    series: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in history:
        series[(row["service"], row["sli_name"])].append(row)
    for row in current:
        row["months"] = series.get((row["service"], row["sli_name"]), [])
    return current


def _incidents(con, period: date) -> list[dict]:
    return _rows(
        con,
        """
        SELECT incident_id, service, team, severity, summary, started_at, ended_at, duration_hours, actual_cost,
               expected_cost, excess_cost, excess_pct
        FROM marts.fct_incident_costs WHERE month_start = ?
        ORDER BY excess_cost DESC NULLS LAST, started_at
        """,
        [period],
    )


# The KPI scorecard's rows: (column, label, kind), kind saying how a value is shown and compared.
KPI_ROWS = (
    ("effective_cost", "Effective (amortized) cost", "money"),
    ("billed_cost", "Billed (cash) cost", "money"),
    ("shared_effective_cost", "Shared cost allocated to teams", "money"),
    ("unallocated_effective_cost", "Unallocated cost", "money"),
    ("unallocated_pct", "Unallocated spend", "pct"),
    ("tag_coverage_pct", "Tag coverage", "pct"),
    ("budget_amount", "Budget (sum of the teams')", "money"),
    ("budget_consumed_pct", "Budget consumed", "pct"),
    ("budget_variance_pct", "Budget variance", "pct"),
    ("budget_alert_level", "Budget alert level", "text"),
    ("cost_per_transaction", "Cost per 1k transactions", "per_1k"),
    ("cost_per_slo_compliant_request", "Cost per 1k SLO-compliant requests", "per_1k"),
    ("slos_met", "SLOs met", "slos"),
    ("unused_commitment_pct", "Unused commitment", "pct"),
    ("savings_realized", "Savings realized", "money"),
    ("effective_savings_rate", "Effective savings rate", "rate"),
    ("incident_count", "Incidents", "count"),
    ("cost_of_incidents", "Cost of incidents (above baseline)", "money"),
    ("anomaly_count", "Cost anomaly episodes started", "count"),
    ("forecast_accuracy_pct", "Forecast accuracy (month-ahead)", "pct"),
)


def _kpi_value(row: dict | None, column: str, kind: str) -> tuple[str, object]:
    if row is None:
        return "", None
    value = row.get(column)
    if kind == "slos":
        if row.get("slo_count") is None:
            return "", None
        return f"{row['slos_met'] or 0} of {row['slo_count']}", row["slos_met"]
    if value is None:
        return "", None
    if kind == "money":
        return money(value), value
    if kind == "pct":
        return pct(value), value
    if kind == "rate":
        return pct(100 * value), value
    if kind == "per_1k":
        return ratio(1000 * value), value
    if kind == "count":
        return number(value), value
    return str(value), value


def _kpis(con, period: date, before: date) -> list[dict]:
    rows = {
        row["billing_period_start"]: row
        for row in _rows(
            con,
            "SELECT * FROM marts.fct_finops_kpis WHERE scope = 'organization' AND billing_period_start IN (?, ?)",
            [period, before],
        )
    }
    now, last = rows.get(period), rows.get(before)
    table = []
    for column, name, kind in KPI_ROWS:
        shown, value = _kpi_value(now, column, kind)
        shown_last, value_last = _kpi_value(last, column, kind)
        change = ""
        if (
            kind in ("money", "pct", "count", "rate", "per_1k")
            and value is not None
            and value_last is not None
        ):
            if kind == "money":
                change = money(value - value_last)
                if value_last:
                    change += f" ({pct(100 * (value - value_last) / value_last)})"
            elif kind == "pct":
                change = f"{float(value) - float(value_last):+,.1f} pts"
            elif kind == "rate":
                change = f"{100 * (value - value_last):+,.1f} pts"
            elif kind == "per_1k":
                change = f"{1000 * (value - value_last):+,.4f}"
            else:
                change = f"{value - value_last:+,}"
        table.append(
            {"column": column, "name": name, "kind": kind, "value": shown, "exact": exact(value) if kind == "money"
             else "", "previous": shown_last, "change": change}
        )  # fmt: skip
    return table


def _team_kpis(con, period: date) -> list[dict]:
    return _rows(
        con,
        """
        SELECT k.team, t.team_name, k.effective_cost, k.shared_effective_cost, k.tag_coverage_pct,
               k.budget_consumed_pct, k.budget_alert_level, k.cost_per_transaction, k.transactions,
               k.transaction_share_pct, k.low_transaction_volume,
               k.cost_per_slo_compliant_request, k.slo_count, k.slos_met, k.savings_realized, k.incident_count,
               k.cost_of_incidents, k.anomaly_count
        FROM marts.fct_finops_kpis AS k LEFT JOIN marts.dim_teams AS t USING (team)
        WHERE k.scope = 'team' AND k.billing_period_start = ?
        ORDER BY k.effective_cost DESC NULLS LAST, k.team
        """,
        [period],
    )


def _unallocated(con, period: date, before: date, currency: str) -> dict:
    rows = {
        row["billing_period_start"]: row
        for row in _rows(
            con,
            """
            SELECT billing_period_start, unallocated_effective_cost, unallocated_pct, effective_cost,
                   taggable_cost, tag_compliant_cost, tag_coverage_pct
            FROM marts.fct_finops_kpis WHERE scope = 'organization' AND billing_period_start IN (?, ?)
            """,
            [period, before],
        )
    }
    showback = con.execute(
        "SELECT sum(total_cost) FROM marts.fct_showback_monthly WHERE billing_period_start = ? "
        "AND billing_currency = ? AND team = 'unallocated'",
        [period, currency],
    ).fetchone()[0]
    return {"now": rows.get(period), "last": rows.get(before), "showback": showback or ZERO}


def _unallocated_sources(con, period: date, currency: str) -> list[dict]:
    return _rows(
        con,
        """
        SELECT service_name, billing_account_id, sub_account_id,
               string_agg(DISTINCT coalesce(allocation_rule_id, 'no rule'), ', ') AS rules,
               sum(effective_cost) AS effective_cost, sum(billed_cost) AS billed_cost
        FROM marts.fct_cost_allocation
        WHERE billing_period_start = ? AND billing_currency = ? AND team = 'unallocated'
        GROUP BY ALL
        HAVING sum(effective_cost) <> 0 OR sum(billed_cost) <> 0
        ORDER BY abs(sum(effective_cost)) DESC, service_name, billing_account_id, sub_account_id
        LIMIT 15
        """,
        [period, currency],
    )


def _tag_coverage(con, period: date) -> list[dict]:
    return _rows(
        con,
        """
        SELECT coalesce(k.team, 'organization') AS scope, t.team_name, k.taggable_cost, k.tag_compliant_cost,
               k.taggable_cost - k.tag_compliant_cost AS untagged_cost, k.tag_coverage_pct
        FROM marts.fct_finops_kpis AS k LEFT JOIN marts.dim_teams AS t USING (team)
        WHERE k.billing_period_start = ?
        ORDER BY k.scope = 'team', k.tag_coverage_pct NULLS LAST, k.team
        """,
        [period],
    )


def _close(con, period: date) -> dict:
    status = None
    if _exists(con, "closed", "period_status"):
        found = _rows(con, "SELECT * FROM closed.period_status WHERE billing_period = ?", [period])
        status = found[0] if found else None
    attempts = []
    if _exists(con, "meta", "close_attempts"):
        attempts = _rows(
            con,
            "SELECT attempted_at, succeeded, close_version, blocking_failures, warnings, report "
            "FROM meta.close_attempts WHERE billing_period = ? ORDER BY attempted_at DESC",
            [period],
        )
    restatements = []
    if _exists(con, "meta", "period_restatements"):
        restatements = _rows(
            con,
            "SELECT source_family, restated_at, previous_rows, previous_billed_cost, new_rows, new_billed_cost, "
            "close_version FROM meta.period_restatements WHERE billing_period = ? ORDER BY restated_at DESC",
            [period],
        )
    checks = []
    report = None
    if attempts:
        # The checks of the latest attempt, from the JSON the close wrote beside its report (when it is here).
        report = Path(attempts[0]["report"])
        checks_file = report.with_suffix(".json")
        try:
            checks = json.loads(checks_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            checks = []
    return {"status": status, "attempts": attempts, "restatements": restatements, "checks": checks,
            "report": report}  # fmt: skip


# --- charts -----------------------------------------------------------------------------------------------


def _layout(fig, title: str, *, height: int = 380, money_axis: str | None = None, **extra) -> None:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        template="plotly_white",
        colorway=list(PALETTE),
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        hovermode="closest",
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
        **extra,
    )
    if money_axis:
        fig.update_yaxes(title_text=money_axis, tickformat=",.0f")


def _f(value) -> float | None:
    return None if value is None else float(value)


def charts(data: ReportData) -> list[Chart]:
    import plotly.graph_objects as go

    cur = data.currency or "cost"
    out: list[Chart] = []

    # Spend by team: direct and shared (stacked), unallocated.
    teams = [t for t in data.teams if t["total_cost"]]
    fig = None
    if teams:
        fig = go.Figure()
        names = [t["team"] for t in teams]
        for column, label in (
            ("direct_cost", "direct (tag and account)"),
            ("shared_cost", "shared (allocated)"),
            ("unallocated_cost", "unallocated"),
        ):
            fig.add_bar(name=label, x=names, y=[_f(t[column]) for t in teams],
                        hovertemplate="%{x}: %{y:,.2f} " + cur + "<extra>" + label + "</extra>")  # fmt: skip
        _layout(fig, f"Showback by team, {data.label} ({cur}, amortized)", money_axis=cur, barmode="stack")
    out.append(Chart("team-spend", "Spend by team", fig, "No showback rows for this period."))

    # Spend by service: the top services, stacked by the team they are allocated to.
    services = data.services[:TOP_SERVICES]
    fig = None
    if services:
        fig = go.Figure()
        team_names = sorted(
            {team for s in services for team in s["by_team"]}, key=lambda t: (t == "unallocated", t)
        )
        labels = [s["service_name"] for s in services][::-1]
        for team in team_names:
            values = [_f(s["by_team"].get(team)) for s in services][::-1]
            fig.add_bar(name=team, y=labels, x=values, orientation="h",
                        hovertemplate="%{y}: %{x:,.2f} " + cur + "<extra>" + team + "</extra>")  # fmt: skip
        _layout(fig, f"Top {len(services)} services by amortized cost, by team (shared costs included)",
                height=max(320, 40 + 32 * len(services)), barmode="stack")  # fmt: skip
        fig.update_xaxes(title_text=cur, tickformat=",.0f")
        fig.update_yaxes(automargin=True)
    out.append(Chart("service-spend", "Spend by service", fig, "No allocated cost for this period."))

    out.append(_daily_chart(data, go))
    out.append(_mtd_chart(data, go))

    # Budget burn per team: % of budget consumed, day by day, with the alert thresholds.
    burn = [b for b in data.budgets if b["budget_amount"]]
    fig = None
    if burn:
        fig = go.Figure()
        for row in burn:
            days = row["days"]
            fig.add_scatter(x=[d["as_of_date"] for d in days], y=[d["budget_consumed_pct"] for d in days],
                            mode="lines", name=f"{row['team']} ({row['alert_level']})",
                            hovertemplate="%{x|%d %b}: %{y:.1f}% of budget<extra>" + row["team"] + "</extra>")  # fmt: skip
        for level, dash in ((50, "dot"), (75, "dash"), (100, "solid")):
            fig.add_hline(y=level, line_dash=dash, line_color="#c44e52" if level == 100 else "#999",
                          annotation_text=f"{level}%", annotation_position="top left")  # fmt: skip
        _layout(fig, f"Budget consumed month to date, per team, {data.label}")
        fig.update_yaxes(title_text="% of monthly budget", ticksuffix="%")
    out.append(Chart("budget-burn", "Budget burn", fig, "No team has a budget for this period."))

    # Unit cost: cost per 1k transactions per product and day.
    products = [u for u in data.unit_costs if any(d["cost_per_transaction"] is not None for d in u["days"])]
    fig = None
    if products:
        fig = go.Figure()
        for row in products:
            days = row["days"]
            fig.add_scatter(x=[d["day"] for d in days],
                            y=[None if d["cost_per_transaction"] is None else 1000 * d["cost_per_transaction"]
                               for d in days],
                            mode="lines+markers", marker={"size": 4}, name=row["product"],
                            hovertemplate="%{x|%d %b}: %{y:,.4f} " + cur + " per 1k transactions<extra>"
                            + row["product"] + "</extra>")  # fmt: skip
        _layout(fig, f"Cost per 1,000 transactions, per product and day, {data.label}")
        fig.update_yaxes(title_text=f"{cur} per 1k transactions", type="log", dtick=1)
    out.append(Chart("unit-cost", "Unit cost", fig, "No unit drivers (volumes) for this period."))

    # Cost per SLO: cost per 1k good events per service and SLI, month by month up to the period.
    slos = [s for s in data.slos if any(m["cost_per_1k_good_events"] is not None for m in s["months"])]
    fig = None
    if slos:
        fig = go.Figure()
        for row in slos:
            months = row["months"]
            name = f"{row['service']} / {row['sli_name']}"
            fig.add_scatter(x=[month_label(m["month_start"]) for m in months],
                            y=[m["cost_per_1k_good_events"] for m in months], mode="lines+markers", name=name,
                            hovertemplate="%{x}: %{y:,.4f} " + cur + " per 1k good events<extra>" + name
                            + "</extra>")  # fmt: skip
        _layout(fig, "Cost per 1,000 good events (SLO-compliant), per service and SLI, by month", height=420)
        fig.update_xaxes(type="category")
        fig.update_yaxes(title_text=f"{cur} per 1k good events", type="log", dtick=1)
        fig.update_layout(legend={"orientation": "v", "y": 1, "x": 1.02, "xanchor": "left", "yanchor": "top"})
    out.append(Chart("cost-per-slo", "Cost per SLO", fig, "No SLIs measured for this period."))

    # Unallocated spend: where it comes from.
    sources = data.unallocated_sources
    fig = None
    if sources:
        fig = go.Figure()
        labels = [f"{s['service_name']} @ {s['sub_account_id'] or s['billing_account_id']}" for s in sources][
            ::-1
        ]
        fig.add_bar(y=labels, x=[_f(s["effective_cost"]) for s in sources][::-1], orientation="h",
                    name="unallocated", marker_color=PALETTE[3],
                    hovertemplate="%{y}: %{x:,.2f} " + cur + "<extra></extra>")  # fmt: skip
        _layout(
            fig, "Unallocated amortized cost by service and account", height=max(260, 60 + 28 * len(sources))
        )
        fig.update_xaxes(title_text=cur, tickformat=",.2f")
        fig.update_yaxes(automargin=True)
    out.append(Chart("unallocated", "Unallocated spend", fig, "Nothing is unallocated in this period."))

    # Tag coverage per team (and the organization).
    coverage = [t for t in data.tag_coverage if t["tag_coverage_pct"] is not None]
    fig = None
    if coverage:
        fig = go.Figure()
        labels = [t["scope"] for t in coverage]
        fig.add_bar(x=labels, y=[_f(t["tag_compliant_cost"]) for t in coverage], name="carries the required tags",
                    marker_color=PALETTE[2], customdata=[t["tag_coverage_pct"] for t in coverage],
                    hovertemplate="%{x}: %{y:,.2f} " + cur + " (%{customdata:.1f}%)<extra></extra>")  # fmt: skip
        fig.add_bar(x=labels, y=[_f(t["untagged_cost"]) for t in coverage], name="missing a required tag",
                    marker_color="#d9d9d9", hovertemplate="%{x}: %{y:,.2f} " + cur + "<extra></extra>")  # fmt: skip
        for label, row in zip(labels, coverage, strict=True):
            fig.add_annotation(x=label, y=_f(row["taggable_cost"]), text=pct(row["tag_coverage_pct"]),
                               showarrow=False, yshift=10)  # fmt: skip
        _layout(
            fig, "Taggable cost carrying every required tag (tag coverage)", money_axis=cur, barmode="stack"
        )
    out.append(Chart("tag-coverage", "Tag coverage", fig, "No taggable cost in this period."))
    return out


def _anomaly_hover(a: dict) -> str:
    causes = "<br>".join(
        f"&nbsp;&nbsp;{c['dimension']}: {_short(c['value'])} ({float(c['impact']):+,.2f})"
        for c in a["causes"][:3]
    )
    return (f"<b>{a['service_name']}</b> @ {a['sub_account_id']}<br>{a['start_date']} to {a['end_date']}, "
            f"{a['severity']}, {a['status']}<br>impact {float(a['impact']):+,.2f}"
            + (f" ({a['impact_pct']:+.0f}%)" if a["impact_pct"] is not None else "")
            + f"<br>root causes:<br>{causes}")  # fmt: skip


def _short(value: str, width: int = 60) -> str:
    import html

    text = str(value)
    return html.escape(text if len(text) <= width else "…" + text[-(width - 1) :])


def _daily_chart(data: ReportData, go) -> Chart:
    cur = data.currency or "cost"
    days_in_month = (next_month(data.period) - data.period).days
    fig = go.Figure()
    forecast = data.forecast["rows"]
    if forecast:
        x = [r["forecast_day"] for r in forecast]
        for low, high, label, color in (("forecast_lo_95", "forecast_hi_95", "95% interval", "rgba(47,111,176,0.15)"),
                                        ("forecast_lo_80", "forecast_hi_80", "80% interval", "rgba(47,111,176,0.30)")):  # fmt: skip
            fig.add_scatter(x=x, y=[_f(r[high]) for r in forecast], mode="lines", line={"width": 0},
                            showlegend=False, hoverinfo="skip", legendgroup=label)  # fmt: skip
            fig.add_scatter(x=x, y=[_f(r[low]) for r in forecast], mode="lines", line={"width": 0}, fill="tonexty",
                            fillcolor=color, name=f"forecast {label}", legendgroup=label, hoverinfo="skip")  # fmt: skip
        fig.add_scatter(x=x, y=[_f(r["forecast_cost"]) for r in forecast], mode="lines",
                        line={"dash": "dash", "color": PALETTE[0]},
                        name=f"forecast as of {data.forecast['made_on']} ({data.forecast['model']})",
                        hovertemplate="%{x|%d %b}: forecast %{y:,.2f}<extra></extra>")  # fmt: skip
    if data.daily:
        fig.add_scatter(x=[d["usage_date"] for d in data.daily], y=[_f(d["effective_cost"]) for d in data.daily],
                        mode="lines+markers", name="actual", line={"color": "#1f2328", "width": 2},
                        marker={"size": 5}, hovertemplate="%{x|%a %d %b}: %{y:,.2f} " + cur + "<extra>actual</extra>")  # fmt: skip
    budget = sum((b["budget_amount"] for b in data.budgets if b["budget_amount"] is not None), ZERO)
    if budget:
        per_day = float(budget) / days_in_month
        fig.add_scatter(x=[data.period, next_month(data.period) - timedelta(days=1)], y=[per_day, per_day],
                        mode="lines", line={"color": PALETTE[3], "width": 2}, name=f"budget per day ({per_day:,.2f})",
                        hovertemplate="budget per day %{y:,.2f}<extra></extra>")  # fmt: skip
    # Anomaly episodes on the timeline: a band over their days and a marker at the peak with the causes.
    peaks = [a for a in data.anomalies if data.period <= a["peak_date"] < next_month(data.period)]
    for a in data.anomalies:
        start = datetime.combine(max(a["start_date"], data.period), datetime.min.time()) - timedelta(hours=12)
        stop = datetime.combine(a["end_date"], datetime.min.time()) + timedelta(hours=12)
        fig.add_vrect(x0=start, x1=stop, fillcolor="rgba(196,78,82,0.12)", line_width=0, layer="below")
    if peaks:
        actual_by_day = {d["usage_date"]: float(d["effective_cost"]) for d in data.daily}
        fig.add_scatter(x=[a["peak_date"] for a in peaks], y=[actual_by_day.get(a["peak_date"], 0) for a in peaks],
                        mode="markers+text", marker={"symbol": "triangle-down", "size": 14, "color": PALETTE[3]},
                        text=[f"{float(a['impact']):+,.0f}" for a in peaks], textposition="top center",
                        name="cost anomaly (impact)", hovertext=[_anomaly_hover(a) for a in peaks],
                        hoverinfo="text")  # fmt: skip
    if not fig.data:
        return Chart("daily-trend", "Daily trend", None, "No daily cost for this period.")
    _layout(fig, f"Daily amortized cost, {data.label}, with the spend forecast's fan and the budget", height=420,
            money_axis=cur)  # fmt: skip
    fig.update_xaxes(tickformat="%d %b")
    return Chart("daily-trend", "Daily trend", fig)


def _mtd_chart(data: ReportData, go) -> Chart:
    """Month-to-date cost against the budget, with the forecast's cumulative fan to the month end."""
    cur = data.currency or "cost"
    fig = go.Figure()
    running = ZERO
    actual_x, actual_y = [], []
    by_day = {d["usage_date"]: d["effective_cost"] for d in data.daily}
    last_actual = max(by_day) if by_day else None
    day = data.period
    end = next_month(data.period)
    while last_actual is not None and day <= last_actual:
        running += by_day.get(day, ZERO)
        actual_x.append(day)
        actual_y.append(float(running))
        day += timedelta(days=1)
    forecast = data.forecast["rows"]
    if forecast:
        made_on = data.forecast["made_on"]
        start = sum((v for d, v in by_day.items() if d <= made_on), ZERO)
        x, mean, lo80, hi80, lo95, hi95 = [made_on], [start], [start], [start], [start], [start]
        for r in forecast:
            x.append(r["forecast_day"])
            mean.append(mean[-1] + r["forecast_cost"])
            lo80.append(lo80[-1] + r["forecast_lo_80"])
            hi80.append(hi80[-1] + r["forecast_hi_80"])
            lo95.append(lo95[-1] + r["forecast_lo_95"])
            hi95.append(hi95[-1] + r["forecast_hi_95"])
        for low, high, label, color in ((lo95, hi95, "95%", "rgba(47,111,176,0.15)"),
                                        (lo80, hi80, "80%", "rgba(47,111,176,0.30)")):  # fmt: skip
            fig.add_scatter(x=x, y=[float(v) for v in high], mode="lines", line={"width": 0}, showlegend=False,
                            hoverinfo="skip")  # fmt: skip
            fig.add_scatter(x=x, y=[float(v) for v in low], mode="lines", line={"width": 0}, fill="tonexty",
                            fillcolor=color, name=f"sum of daily {label} bounds", hoverinfo="skip")  # fmt: skip
        fig.add_scatter(x=x, y=[float(v) for v in mean], mode="lines", line={"dash": "dash", "color": PALETTE[0]},
                        name=f"forecast as of {made_on}",
                        hovertemplate="%{x|%d %b}: forecast %{y:,.2f}<extra></extra>")  # fmt: skip
    if actual_x:
        fig.add_scatter(x=actual_x, y=actual_y, mode="lines+markers", marker={"size": 4}, name="actual month to date",
                        line={"color": "#44546a", "width": 3},
                        hovertemplate="%{x|%d %b}: %{y:,.2f} " + cur + "<extra>month to date</extra>")  # fmt: skip
    budget = sum((b["budget_amount"] for b in data.budgets if b["budget_amount"] is not None), ZERO)
    if budget:
        fig.add_scatter(x=[data.period, end - timedelta(days=1)], y=[float(budget)] * 2, mode="lines",
                        line={"color": PALETTE[3], "width": 2}, name=f"budget ({money(budget)})",
                        hovertemplate="budget %{y:,.2f}<extra></extra>")  # fmt: skip
    if not fig.data:
        return Chart("month-to-date", "Month to date", None, "No daily cost for this period.")
    _layout(fig, f"Month-to-date amortized cost against the budget, {data.label}", height=400, money_axis=cur)
    fig.update_xaxes(tickformat="%d %b")
    return Chart("month-to-date", "Month to date", fig)


# --- the page ---------------------------------------------------------------------------------------------


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("orchestration", "report_templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, exact=exact, pct=pct, number=number, ratio=ratio, month=month_label)
    return env


def render(data: ReportData) -> str:
    """The page: the template with the data, each chart's div and script, plotly.js embedded once."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    config = {"displaylogo": False, "responsive": True,
              "modeBarButtonsToRemove": ["sendDataToCloud", "select2d", "lasso2d"]}  # fmt: skip
    by_id = {}
    for chart in data.charts:
        if chart.figure is not None:
            chart.html = pio.to_html(chart.figure, include_plotlyjs=False, full_html=False, config=config,
                                     div_id=f"chart-{chart.id}", default_height=f"{chart.figure.layout.height}px")  # fmt: skip
        by_id[chart.id] = chart
    return (
        _environment()
        .get_template("monthly.html.j2")
        .render(
            data=data,
            charts=by_id,
            plotly_js=get_plotlyjs(),
            kpi_rows=data.kpis,
            previous_label=month_label(previous_month(data.period)),
            period_last_day=next_month(data.period) - timedelta(days=1),
        )
    )


def build(con: duckdb.DuckDBPyConnection, period: date, *, source: str, now: datetime | None = None) -> str:
    """The report's HTML for ``period`` from an open (read-only) connection."""
    return render(collect(con, period, source=source, now=now))


def check_out(out: Path, *, force: bool, protected: list[tuple[str, Path]] = ()) -> Path:
    """The resolved target of ``--out``: an ``.html`` file, not inside ``protected`` folders (the landing
    folder, where tfm would read it as a delivery), and not over an existing file unless ``force``."""
    target = Path(out).expanduser().resolve()
    if target.suffix.lower() not in (".html", ".htm"):
        raise ReportError(f"{out}: the report is an HTML file; name it .html")
    for label, folder in protected:
        root = Path(folder).expanduser().resolve()
        if target == root or target.is_relative_to(root):
            raise ReportError(f"{out} is inside {label} ({root}); write the report elsewhere")
    if target.is_dir():
        raise ReportError(f"cannot write {out}: it is a folder")
    if target.exists() and not force:
        raise ReportError(f"{out} already exists; use --force to replace it")
    return target


def write(html_text: str, target: Path) -> Path:
    """Write the page to ``target`` atomically: a temporary file beside it, then a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tfm-partial")
    try:
        part.write_text(html_text, encoding="utf-8")
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


def default_out(home: Path, period: date) -> Path:
    """Where ``tfm report`` writes without ``--out``: ``$TFM_HOME/reports/YYYY-MM.html``."""
    return home / "reports" / f"{month_label(period)}.html"


def make_report(
    warehouse: Path, period_text: str, target: Path, *, live: bool = False, log=lambda _: None
) -> Path:
    """``tfm report``: read the warehouse read-only, render the period's page, write it to ``target``
    (checked by :func:`check_out`)."""
    from orchestration.analyst import AnalystError, connect_readonly

    period = parse_period(period_text)
    if not Path(warehouse).exists():
        raise ReportError(
            f"no warehouse at {warehouse}; run 'tfm demo', or 'tfm ingest' and 'tfm build', first"
        )
    try:
        con = connect_readonly(warehouse, log=log)
    except AnalystError as exc:
        raise ReportError(str(exc)) from None
    try:
        html_text = build(con, period, source="the live warehouse" if live else "the published warehouse")
    except duckdb.Error as exc:  # marts older than this tfm (a column it reads is missing), or a damaged file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ReportError(
            f"cannot read the marts of {warehouse} ({first}); run 'tfm build' to bring them up to date"
        )
    finally:
        con.close()
    return write(html_text, target)


# --- the command ------------------------------------------------------------------------------------------


def _command():
    import sys

    import click

    @click.command(name="report")
    @click.option("--period", required=True, help="Billing period, YYYY-MM.")
    @click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The HTML file to write (default: $TFM_HOME/reports/YYYY-MM.html, replaced when it exists).",
    )
    @click.option("--force", is_flag=True, help="Replace --out when it exists.")
    @click.option(
        "--live",
        is_flag=True,
        help="Read the warehouse as it is now (waits while a command writes it) instead of the last published "
        "build.",
    )
    def report_command(period: str, out: Path | None, force: bool, live: bool) -> None:
        """Write the monthly cost report of a billing period: one HTML file that opens offline.

        Spend by team and service with shared costs, the daily trend with the forecast's fan and the budget,
        anomalies and their root causes, budget burn, unit cost and cost per SLO, the KPIs beside last month's,
        unallocated spend and tag coverage, and the close status. Read from the published warehouse, read-only.
        """
        from orchestration.settings import Settings

        def fail(message: str) -> None:
            click.echo(f"error: {message}", err=True)
            sys.exit(1)

        settings = Settings.from_env()
        try:
            if out is None:
                target = check_out(default_out(settings.home, parse_period(period)), force=True)
            else:
                protected = [
                    ("the landing folder", settings.landing),
                    ("the Dagster instance's folder", settings.dagster_home),
                ]
                target = check_out(out, force=force, protected=protected)
            source = settings.warehouse if live else settings.published
            if not source.exists():
                if settings.warehouse.exists():
                    fail(f"nothing is published yet in {settings.home}: run 'tfm build', or add --live to read "
                         "the warehouse as it is")  # fmt: skip
                fail(
                    f"no warehouse at {settings.warehouse}; run 'tfm demo', or 'tfm ingest' and 'tfm build', first"
                )
            written = make_report(source, period, target, live=live, log=lambda m: click.echo(m, err=True))
        except ReportError as exc:
            fail(str(exc))
        click.echo(f"wrote the {period} report to {written} ({written.stat().st_size:,} bytes)", err=True)

    return report_command


report_command = _command()
