"""The monthly cost report (``tfm report``) of the demo's warehouse: one HTML file that loads nothing from the
network, whose figures are the marts' to the cent, and whose every chart Chromium draws with data.

The figures are read back from the page (each money cell keeps the mart's exact value in ``data-exact`` beside
the displayed one) and compared with sums over the published warehouse's marts, recomputed here in SQL.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from orchestration.cli import main
from orchestration.report import CHART_IDS
from tests.browser import artifact, browser_page

PERIOD = "2026-03"
ANOMALY_PERIOD = "2026-02"  # the generator's injected NAT gateway spike of 23 February


def tfm(home: Path, *args: str):
    env = {"TFM_HOME": str(home), "TFM_LANDING": None, "DAGSTER_HOME": None}
    return CliRunner().invoke(main, list(args), env=env)


class Cells(HTMLParser):
    """Every element with ``data-exact``: its table, row key, column, exact value and displayed text; and every
    attribute that makes the browser load something (``src``, ``href``, ``srcset``...)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells: list[dict] = []
        self.loads: list[tuple[str, str, str]] = []
        self.scripts = 0
        self._table = self._row = None
        self._open: list[list] = []  # [tag, cell] being read

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in ("src", "href", "srcset", "data", "poster", "action"):
            if a.get(name):
                self.loads.append((tag, name, a[name]))
        if tag == "script":
            self.scripts += 1
        if tag == "table":
            self._table = a.get("id")
        if tag == "tr":
            self._row = a.get("data-team") or a.get("data-kpi") or a.get("data-anomaly")
        for entry in self._open:
            if entry[0] == tag:
                entry[2] += 1
        if "data-exact" in a:
            cell = {"table": self._table, "row": self._row, "id": a.get("id"), "col": a.get("data-col"),
                    "exact": a["data-exact"], "text": ""}  # fmt: skip
            self.cells.append(cell)
            self._open.append([tag, cell, 1])

    def handle_endtag(self, tag):
        for entry in list(self._open):
            if entry[0] == tag:
                entry[2] -= 1
                if entry[2] == 0:
                    self._open.remove(entry)

    def handle_data(self, data):
        for _, cell, _ in self._open:
            cell["text"] += data


def parse(html_text: str) -> Cells:
    cells = Cells()
    cells.feed(html_text)
    return cells


def shown(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP) + 0:,.2f}"


def one(cells: Cells, **where) -> dict:
    found = [c for c in cells.cells if all(c.get(k) == v for k, v in where.items())]
    assert len(found) == 1, (where, found)
    return found[0]


def assert_money(cell: dict, expected: Decimal) -> None:
    """The cell holds the mart's value exactly, and shows it rounded to the cent."""
    assert Decimal(cell["exact"]) == expected, (cell, expected)
    assert cell["text"].strip() == shown(expected), (cell, expected)


def marts(settings, sql: str, params=()) -> list:
    con = duckdb.connect(str(settings.published), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def reports(demo_warehouse, tmp_path_factory):
    """The reports of the demo month and of the month with the anomaly, written by the command."""
    folder = tmp_path_factory.mktemp("report")
    written = {}
    for period in (PERIOD, ANOMALY_PERIOD):
        out = folder / f"{period}.html"
        result = tfm(demo_warehouse.home, "report", "--period", period, "--out", str(out))
        assert result.exit_code == 0, result.output
        assert f"wrote the {period} report to {out}" in result.output
        written[period] = out
    return written


def test_the_report_is_one_self_contained_file(reports):
    html_text = reports[PERIOD].read_text(encoding="utf-8")
    cells = parse(html_text)
    # Nothing is fetched: no script, style, image or frame from anywhere; links only within the page.
    assert [load for load in cells.loads if not (load[1] == "href" and load[2].startswith("#"))] == []
    assert not re.search(
        r"<(script|link|img|iframe|source|embed|object)\b[^>]*\b(src|href)\s*=", html_text, re.IGNORECASE
    )
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", html_text, re.IGNORECASE)
    # plotly.js is embedded once; every chart is drawn by it.
    assert html_text.count("Plotly.newPlot(") == len(CHART_IDS)
    assert cells.scripts == 1 + len(CHART_IDS)
    assert len(html_text.encode()) > 3_000_000  # plotly.js itself (about 4.6 MB) is in the file


def test_the_figures_are_the_marts_to_the_cent(demo_warehouse, reports):
    settings = demo_warehouse
    cells = parse(reports[PERIOD].read_text(encoding="utf-8"))
    period = f"{PERIOD}-01"
    billed, effective = marts(
        settings,
        "SELECT sum(BilledCost), sum(EffectiveCost) FROM marts.fct_focus_charges WHERE x_billing_period = ?",
        [period],
    )[0]
    assert_money(one(cells, id="total-effective"), effective)
    assert_money(one(cells, id="total-billed"), billed)
    # Showback adds up to EffectiveCost and chargeback to BilledCost, as the page shows them.
    assert_money(one(cells, id="showback-total"), effective)
    assert_money(one(cells, id="chargeback-total"), billed)
    assert_money(one(cells, id="service-total"), effective)
    # Every team's showback and chargeback.
    teams = marts(
        settings,
        """
        SELECT s.team, sum(s.total_cost), (SELECT sum(c.total_cost) FROM marts.fct_chargeback_monthly AS c
                                            WHERE c.team = s.team AND c.billing_period_start = ?)
        FROM marts.fct_showback_monthly AS s WHERE s.billing_period_start = ? GROUP BY s.team
        """,
        [period, period],
    )
    assert len(teams) >= 6
    for team, showback, chargeback in teams:
        assert_money(one(cells, table="team-table", row=team, col="total_cost"), showback)
        assert_money(one(cells, table="team-table", row=team, col="billed_total_cost"), chargeback)
    (unallocated,) = marts(
        settings,
        "SELECT total_cost FROM marts.fct_showback_monthly WHERE billing_period_start = ? AND team = 'unallocated'",
        [period],
    )[0]
    assert_money(one(cells, id="total-unallocated"), unallocated)
    # Budget burn per team, and the KPI scorecard's cost.
    for team, budget, mtd in marts(
        settings,
        "SELECT team, budget_amount, mtd_effective_cost FROM marts.fct_budget_burn "
        "WHERE billing_period_start = ? AND is_latest",
        [period],
    ):
        assert_money(one(cells, table="budget-table", row=team, col="mtd_effective_cost"), mtd)
        if budget is not None:
            assert_money(one(cells, table="budget-table", row=team, col="budget_amount"), budget)
    (kpi_cost,) = marts(
        settings,
        "SELECT effective_cost FROM marts.fct_finops_kpis WHERE scope = 'organization' AND billing_period_start = ?",
        [period],
    )[0]
    assert_money(one(cells, table="kpi-table", row="effective_cost"), kpi_cost)


def test_the_report_says_what_the_marts_say(demo_warehouse, reports):
    text = reports[PERIOD].read_text(encoding="utf-8")
    settings = demo_warehouse
    version, closed_by = marts(
        settings,
        "SELECT close_version, closed_by FROM closed.period_status WHERE billing_period = ?",
        [f"{PERIOD}-01"],
    )[0]
    assert re.search(rf"Closed: version <strong>{version}</strong>, [0-9: -]+ UTC, by {closed_by}\.", text)
    assert "Not restated since" in text
    # The month-ahead forecast made as of the last day of February is March's fan, beside what happened.
    made_on, days = marts(
        settings,
        "SELECT max(forecast_date), count(*) FILTER (WHERE forecast_date = date '2026-02-28') "
        "FROM marts.fct_cost_forecasts WHERE series_level = 'organization' AND forecast_day >= ? "
        "AND forecast_day < date '2026-04-01' AND forecast_date < ?",
        [f"{PERIOD}-01", f"{PERIOD}-31"],
    )[0]
    assert str(made_on) == "2026-02-28" and days == 31
    assert "Forecast as of 2026-02-28" in text
    assert 'id="no-anomalies"' in text  # the demo's one anomaly is in February
    for section in ("summary", "spend", "trend", "anomalies", "budgets", "unit-economics", "kpis", "unallocated",
                    "close"):  # fmt: skip
        assert f'<section id="{section}">' in text


def test_the_anomaly_month_shows_the_episode_and_its_root_cause(demo_warehouse, reports):
    cells = parse(reports[ANOMALY_PERIOD].read_text(encoding="utf-8"))
    anomalies = marts(
        demo_warehouse,
        "SELECT anomaly_id, impact, top_cause_value FROM marts.fct_cost_anomalies "
        "WHERE start_date < date '2026-03-01' AND end_date >= date '2026-02-01'",
    )
    assert anomalies
    text = reports[ANOMALY_PERIOD].read_text(encoding="utf-8")
    for anomaly_id, impact, cause in anomalies:
        assert_money(one(cells, table="anomaly-table", row=anomaly_id, col="impact"), impact)
        assert cause in text
    assert any("natgateway/nat-" in cause for _, _, cause in anomalies)


def test_a_period_without_data_is_one_line_naming_the_periods(demo_warehouse, tmp_path):
    result = tfm(demo_warehouse.home, "report", "--period", "2031-01", "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: no data for billing period 2031-01; the periods with data are ")
    assert "2026-01, 2026-02, 2026-03" in lines[0]
    assert not (tmp_path / "r.html").exists()
    result = tfm(demo_warehouse.home, "report", "--period", "March", "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 1 and result.output.strip() == (
        "error: 'March' is not a billing period; use YYYY-MM (e.g. 2026-03)"
    )


# What a drawn trace holds, per chart: bars' paths, lines' paths, markers, filled bands (non-empty "d").
DRAWN = """
(id) => {
  const root = document.getElementById('chart-' + id);
  if (!root) return null;
  const traces = root.querySelectorAll('.main-svg .trace');
  const drawn = [...root.querySelectorAll('.main-svg .trace path')]
    .filter(p => (p.getAttribute('d') || '').length > 2).length;
  return {traces: traces.length, drawn: drawn, title: (root.querySelector('.gtitle') || {}).textContent || ''};
}
"""


@pytest.mark.parametrize("period", [PERIOD, ANOMALY_PERIOD])
def test_chromium_draws_every_chart_offline(reports, period):
    requests: list[str] = []
    errors: list[str] = []
    with browser_page(width=1400, height=1000) as page:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

        def route(request_route):
            requests.append(request_route.request.url)
            if request_route.request.url.startswith("file:"):
                request_route.continue_()
            else:
                request_route.abort()

        page.route("**/*", route)
        page.goto(reports[period].as_uri(), wait_until="load")
        page.wait_for_function(
            "ids => ids.every(id => document.querySelector('#chart-' + id + ' .main-svg'))",
            arg=list(CHART_IDS),
        )
        page.wait_for_timeout(500)
        charts = {chart: page.evaluate(DRAWN, chart) for chart in CHART_IDS}
        # The anomaly trace is the daily chart's only one with text: its markers are labelled with the impact.
        anomaly_markers = page.evaluate(
            "() => document.querySelectorAll('#chart-daily-trend .textpoint').length"
        )
        shot = artifact(f"report-{period}.png")
        page.screenshot(path=str(shot), full_page=True)
    assert [url for url in requests if not url.startswith("file:")] == []
    assert errors == []
    for chart, seen in charts.items():
        assert seen is not None, f"chart {chart} is missing"
        assert seen["traces"] > 0 and seen["drawn"] > 0, (chart, seen)
        assert seen["title"], chart
    if period == ANOMALY_PERIOD:
        assert anomaly_markers >= 1
    assert shot.stat().st_size > 100_000
