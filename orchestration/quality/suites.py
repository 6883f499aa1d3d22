"""Great Expectations suites on the landing data and the public marts, one billing period at a time.

Each table tfm checks has one suite file, ``expectations/<name>.json``, versioned with the code that writes
the table, and one query, ``queries/<query>.sql``. The file names the table, its period column, the column
whose sum is its cost, and has three sections, each its own GX expectation suite (``<name>.<section>``)
validated against its own frame:

- ``schema``: one row per column of the table, ``column`` holding its name and DuckDB type
  (``total DECIMAL(38,18)``), compared with the list in the suite file (on Spark, both in Spark's type names).
- ``values``: the suite's query: the period's rows grouped by what identifies them (accounts, currency,
  charge types...) with counts of missing values, sums and min/max dates computed in SQL. Every
  row of the table is counted, but the frame holds one row per group, not per line item.
- ``period``: one row per billing period: rows and cost beside the previous month's, their ratios, the
  last charge day against the period end (closed months) or today (the month in progress), the latest
  ingestion time, rows dated before the period.

A section says whether its failure blocks (``"blocking": true``): a blocking section that fails is a
``fail`` :class:`~orchestration.quality.checks.CheckResult` (it stops the close and, as a Dagster asset
check, what depends on the table); a non-blocking one is a ``warn``. Parameters (``"parameters"`` in the
file, overridable per call) feed the expectations' ``{"$PARAMETER": ...}`` values, e.g. the volume ratios.

Adding a table is one JSON file and one query; a landing table (schema ``raw``) that does not exist yet, or
has no rows in the period, is skipped. Validation results go to a GX file context under
``$TFM_HOME/quality/gx`` and are browsable as GX Data Docs in ``$TFM_HOME/quality/data_docs``.

GX runs on pandas frames pulled from DuckDB (see :mod:`orchestration.quality.gx` for why), or from the same
tables on Spark (:mod:`orchestration.quality.engines`), so memory is bounded by the number of groups and periods,
not by the line items.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from orchestration.quality.checks import SAMPLE_ROWS, CheckResult
from orchestration.quality.engines import SuiteTables, tables_of
from orchestration.quality.gx import SUITES_DIR
from orchestration.quoting import q

QUERIES_DIR = Path(__file__).resolve().parent / "queries"
SECTIONS = ("schema", "values", "period")
DOCS_SITE = "tfm"
# Validation results kept per suite in the GX store, older ones deleted: the Data Docs index lists them all, and
# rebuilding it (after each check) takes time in proportion.
KEEP_RESULTS_PER_SUITE = 10

log = logging.getLogger(__name__)


# --- suite files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    name: str  # schema | values | period
    blocking: bool
    description: str
    expectations: list[dict]


@dataclass(frozen=True)
class TableSuite:
    """One suite file: a table, how to read one period of it, and its three sections."""

    name: str
    description: str
    table: str  # "raw.aws_cur2"
    period_column: str
    query: str  # file name under queries/
    sections: dict[str, Section]
    cost_column: str | None = None
    charge_start: str | None = None
    ingested_at: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def schema(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".", 1)[1]

    @property
    def asset_key(self) -> list[str]:
        return [self.schema, self.table_name]

    @property
    def is_landing(self) -> bool:
        return self.schema == "raw"

    @property
    def blocking(self) -> bool:
        return any(section.blocking for section in self.sections.values())

    def suite_name(self, section: str) -> str:
        return f"{self.name}.{section}"


def load_table_suite(path: Path) -> TableSuite:
    spec = json.loads(path.read_text(encoding="utf-8"))
    sections = {
        name: Section(name, bool(body["blocking"]), body["description"], list(body["expectations"]))
        for name, body in spec["sections"].items()
    }
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"{path.name}: unknown section(s) {sorted(unknown)}; sections are {SECTIONS}")
    if not (QUERIES_DIR / spec["query"]).is_file():
        raise FileNotFoundError(f"{path.name}: no query {spec['query']!r} in {QUERIES_DIR}")
    return TableSuite(
        name=spec["name"],
        description=spec["description"],
        table=spec["table"],
        period_column=spec["period_column"],
        query=spec["query"],
        sections=sections,
        cost_column=spec.get("cost_column"),
        charge_start=spec.get("charge_start"),
        ingested_at=spec.get("ingested_at"),
        parameters=dict(spec.get("parameters") or {}),
    )


@cache
def table_suites() -> tuple[TableSuite, ...]:
    """Every table suite in ``expectations/`` (the files with a ``table``), landing tables first."""
    suites = []
    for path in sorted(SUITES_DIR.glob("*.json")):
        if "table" in json.loads(path.read_text(encoding="utf-8")):
            suites.append(load_table_suite(path))
    return tuple(sorted(suites, key=lambda s: (not s.is_landing, s.name)))


def suite_for_table(table: str) -> TableSuite | None:
    return next((s for s in table_suites() if s.table == table), None)


# --- frames (SQL does the counting) -----------------------------------------------------------------


def _add_month(day: date, months: int = 1) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def table_exists(con: duckdb.DuckDBPyConnection | SuiteTables, suite: TableSuite) -> bool:
    return tables_of(con).exists(suite.schema, suite.table_name)


def periods_with_rows(con: duckdb.DuckDBPyConnection | SuiteTables, suite: TableSuite) -> list[date]:
    """The billing periods (first days) the table has rows for."""
    frame = tables_of(con).frame(
        f"SELECT DISTINCT CAST(date_trunc('month', {q(suite.period_column)}) AS DATE) AS billing_period "
        f"FROM {_table(suite)} WHERE {q(suite.period_column)} IS NOT NULL ORDER BY 1",
        {},
    )
    return [pd.Timestamp(value).date() for value in frame["billing_period"]]


def _table(suite: TableSuite) -> str:
    return f"{q(suite.schema)}.{q(suite.table_name)}"


def schema_frame(con: duckdb.DuckDBPyConnection | SuiteTables, suite: TableSuite) -> pd.DataFrame:
    """One row per column of the table: its name, its type (DuckDB's, or the engine's: see
    :mod:`orchestration.quality.engines`), and both as ``column`` (``total DECIMAL(38,18)``), which the schema
    sections compare with the suite's list."""
    columns = tables_of(con).columns(suite.schema, suite.table_name)
    frame = pd.DataFrame(columns, columns=["column_name", "data_type"], dtype=object)
    frame["column"] = frame["column_name"] + " " + frame["data_type"]
    return frame


def values_frame(con: duckdb.DuckDBPyConnection, suite: TableSuite, start: date, end: date) -> pd.DataFrame:
    """The suite's query over the periods from ``start`` (inclusive) to ``end`` (exclusive)."""
    sql = (QUERIES_DIR / suite.query).read_text(encoding="utf-8").replace("{table}", _table(suite))
    return tables_of(con).frame(sql, {"period_start": start, "period_end": end})


def period_frame(
    con: duckdb.DuckDBPyConnection, suite: TableSuite, start: date, end: date, today: date
) -> pd.DataFrame:
    """One row per billing period from ``start`` to ``end``: volume against the month before, freshness."""
    period = f"CAST(date_trunc('month', {q(suite.period_column)}) AS DATE)"
    cost = f"sum({q(suite.cost_column)})" if suite.cost_column else "CAST(NULL AS DECIMAL(38, 18))"
    charge = q(suite.charge_start) if suite.charge_start else None
    first_day = f"min(CAST({charge} AS DATE))" if charge else "CAST(NULL AS DATE)"
    last_day = f"max(CAST({charge} AS DATE))" if charge else "CAST(NULL AS DATE)"
    before = (
        f"count(*) FILTER (WHERE CAST({charge} AS DATE) < {period})" if charge else "CAST(NULL AS BIGINT)"
    )
    ingested = f"max({q(suite.ingested_at)})" if suite.ingested_at else "CAST(NULL AS TIMESTAMP)"
    sql = f"""
        WITH per_period AS (
            SELECT {period} AS billing_period, count(*) AS row_count, {cost} AS cost,
                   {first_day} AS first_charge_day, {last_day} AS last_charge_day,
                   {before} AS rows_dated_before_period, {ingested} AS last_ingested_at
            FROM {_table(suite)}
            WHERE {q(suite.period_column)} >= $lookback AND {q(suite.period_column)} < $period_end
            GROUP BY 1
        )
        SELECT
            strftime(p.billing_period, '%Y-%m') AS billing_period,
            p.row_count,
            CAST(p.cost AS DOUBLE) AS cost,
            prev.row_count AS previous_row_count,
            CAST(prev.cost AS DOUBLE) AS previous_cost,
            p.row_count / prev.row_count AS row_count_ratio,
            CASE WHEN prev.cost > 0 AND p.cost >= 0 THEN CAST(p.cost / prev.cost AS DOUBLE) END AS cost_ratio,
            p.first_charge_day,
            p.last_charge_day,
            CAST(p.billing_period + INTERVAL 1 MONTH AS DATE) <= $today AS closed,
            CASE WHEN CAST(p.billing_period + INTERVAL 1 MONTH AS DATE) <= $today
                 THEN date_diff('day', p.last_charge_day, CAST(p.billing_period + INTERVAL 1 MONTH AS DATE) - 1)
            END AS days_missing_at_end,
            CASE WHEN CAST(p.billing_period + INTERVAL 1 MONTH AS DATE) > $today
                 THEN date_diff('day', p.last_charge_day, $today)
            END AS days_behind_today,
            p.rows_dated_before_period,
            p.last_ingested_at,
            CASE WHEN CAST(p.billing_period + INTERVAL 1 MONTH AS DATE) > $today
                 THEN date_diff('hour', p.last_ingested_at, CAST($now AS TIMESTAMP))
            END AS hours_since_ingest
        FROM per_period p
        LEFT JOIN per_period prev ON prev.billing_period = CAST(p.billing_period - INTERVAL 1 MONTH AS DATE)
        WHERE p.billing_period >= $period_start
        ORDER BY p.billing_period
    """
    now = datetime.now(UTC).replace(tzinfo=None)
    params = {"lookback": _add_month(start, -1), "period_start": start, "period_end": end, "today": today,
              "now": now}  # fmt: skip
    return tables_of(con).frame(sql, params)


# --- Great Expectations -----------------------------------------------------------------------------


@dataclass
class SectionOutcome:
    """One section of one suite validated: the GX result, read for people."""

    suite: TableSuite
    section: Section
    frame: pd.DataFrame
    success: bool
    evaluated: int = 0
    # each {expectation, column, description, kwargs, unexpected_count, summary, threshold}
    failures: list[dict] = field(default_factory=list)
    offending_rows: list[int] = field(default_factory=list)  # frame indexes
    error: str | None = None  # the section could not be validated (its query failed...)

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.success:
            return "pass"
        return "fail" if self.section.blocking else "warn"

    def summary(self) -> str:
        if self.error is not None:
            return f"could not run: {self.error}"
        if self.success:
            return f"{self.evaluated} expectation(s) met"
        described = "; ".join(failure["summary"] for failure in self.failures)
        return f"{len(self.failures)} of {self.evaluated} expectation(s) unmet: {described}"

    def threshold(self) -> str:
        if self.error is not None or self.success:
            return f"every expectation of {self.suite.suite_name(self.section.name)} met"
        return "; ".join(failure["threshold"] for failure in self.failures)

    def sample(self) -> list[dict]:
        rows = [i for i in dict.fromkeys(self.offending_rows) if 0 <= i < len(self.frame)][:SAMPLE_ROWS]
        return [_plain(self.frame.iloc[i].to_dict()) for i in rows]


class QualityContext:
    """A GX context: a file context under ``data_docs_dir``'s parent (stores in ``gx/``, Data Docs site in
    ``data_docs_dir``), or an ephemeral one when there are no Data Docs to write."""

    def __init__(self, data_docs_dir: Path | None) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.data_docs_dir = data_docs_dir
        if data_docs_dir is None:
            self.context = gx.get_context(mode="ephemeral")
        else:
            data_docs_dir.mkdir(parents=True, exist_ok=True)
            self.context = gx.get_context(mode="file", project_root_dir=str(data_docs_dir.parent))
            sites = self.context.variables.data_docs_sites or {}
            base = str(data_docs_dir.resolve())
            site = sites.get(DOCS_SITE)
            if site is None or site.get("store_backend", {}).get("base_directory") != base:
                for name in list(sites):
                    self.context.delete_data_docs_site(name)
                self.context.add_data_docs_site(
                    DOCS_SITE,
                    {
                        "class_name": "SiteBuilder",
                        "show_how_to_buttons": False,
                        "store_backend": {
                            "class_name": "TupleFilesystemStoreBackend",
                            "base_directory": base,
                        },
                        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    },
                )
        bars = self.context.variables.progress_bars
        if (bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)) is not False:
            self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
            if data_docs_dir is not None:
                self.context.variables.save()
        self.datasource = self._datasource()
        self.identifiers: list = []
        self._checkpoints: dict[str, tuple[str, Any]] = {}

    def _datasource(self):
        try:
            return self.context.data_sources.get("tfm_frames")
        except (KeyError, ValueError):
            return self.context.data_sources.add_pandas("tfm_frames")

    def _batch_definition(self, name: str):
        try:
            asset = self.datasource.get_asset(name)
        except LookupError:
            asset = self.datasource.add_dataframe_asset(name)
        try:
            return asset.get_batch_definition("frame")
        except KeyError:
            return asset.add_batch_definition_whole_dataframe("frame")

    def _checkpoint(self, suite: TableSuite, section: Section):
        """The section's GX suite, validation definition and checkpoint, written to the stores only when the
        suite file changed since they were (the stores' writes are most of a validation's time)."""
        import great_expectations as gx
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        name = suite.suite_name(section.name)
        spec = [suite.table, suite.description, section.description, section.expectations]
        fingerprint = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        cached = self._checkpoints.get(name)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        checkpoint = None
        try:
            stored = self.context.checkpoints.get(name)
            if stored.validation_definitions[0].suite.meta.get("tfm_fingerprint") == fingerprint:
                checkpoint = stored
        except Exception:  # noqa: BLE001 (not stored yet, or stored by another version of GX: write it again)
            checkpoint = None
        if checkpoint is None:
            gx_suite = gx.ExpectationSuite(
                name=name,
                meta={
                    "notes": {"format": "markdown",
                              "content": [f"**{suite.table}**: {section.description}", suite.description]},
                    "tfm_fingerprint": fingerprint,
                },
            )  # fmt: skip
            for expectation in section.expectations:
                gx_suite.add_expectation_configuration(
                    ExpectationConfiguration(
                        type=expectation["type"],
                        kwargs=dict(expectation["kwargs"]),
                        description=expectation.get("description"),
                    )
                )
            gx_suite = self.context.suites.add_or_update(gx_suite)
            definition = self.context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=name, data=self._batch_definition(name), suite=gx_suite)
            )
            checkpoint = self.context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=name,
                    validation_definitions=[definition],
                    actions=[],
                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS},
                )
            )
        self._checkpoints[name] = (fingerprint, checkpoint)
        return checkpoint

    def validate(
        self,
        suite: TableSuite,
        section: Section,
        frame: pd.DataFrame,
        parameters: Mapping[str, Any],
        run_name: str,
    ) -> SectionOutcome:
        from great_expectations.core.run_identifier import RunIdentifier

        checkpoint = self._checkpoint(suite, section)
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=dict(parameters),
            run_id=RunIdentifier(run_name=run_name, run_time=datetime.now(UTC)),
        )
        identifier, run = next(iter(result.run_results.items()))
        self.identifiers.append(identifier)
        return _read_result(suite, section, frame, run, parameters)

    def build_data_docs(self) -> Path | None:
        """Render the results of this context's validations and the index; prune old results."""
        if self.data_docs_dir is None or not self.identifiers:
            return None
        self._prune()
        self.context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=self.identifiers)
        self.identifiers = []
        return self.data_docs_dir / "index.html"

    def _prune(self) -> None:
        """Keep the newest KEEP_RESULTS_PER_SUITE validation results of each suite (store and rendered page)."""
        store = self.context.validation_results_store
        by_suite: dict[str, list] = {}
        for key in store.list_keys():
            by_suite.setdefault(key.expectation_suite_identifier.name, []).append(key)
        for keys in by_suite.values():
            keys.sort(key=lambda k: str(k.run_id.run_time), reverse=True)
            for key in keys[KEEP_RESULTS_PER_SUITE:]:
                store.remove_key(key)
                page = self.data_docs_dir.joinpath("validations", *key.to_tuple()).with_suffix(".html")
                page.unlink(missing_ok=True)
                for folder in (page.parent, page.parent.parent):  # the run's folders, once empty
                    if folder.is_dir() and not any(folder.iterdir()):
                        folder.rmdir()


def _read_result(
    suite: TableSuite, section: Section, frame: pd.DataFrame, run, parameters: Mapping[str, Any]
) -> SectionOutcome:
    outcome = SectionOutcome(suite, section, frame, success=bool(run.success), evaluated=len(run.results))
    for result in run.results:
        if result.success:
            continue
        config = result.expectation_config
        kwargs = {
            k: _resolve(v, parameters)
            for k, v in config.kwargs.items()
            if k not in ("batch_id", "result_format")
        }
        details = result.result or {}
        column = kwargs.get("column") or (
            f"{kwargs['column_A']} vs {kwargs['column_B']}" if "column_A" in kwargs else None
        )
        threshold = _condition(config.type, kwargs)
        raised = (result.exception_info or {}).get("raised_exception")
        if raised:
            what = (result.exception_info.get("exception_message") or "error").splitlines()[0][:200]
        elif "value_set" in kwargs and config.type.startswith("expect_column_distinct_values"):
            if "missing_count" in details:  # GX lists what is missing and what is not expected
                missing = sorted(str(v) for v in details.get("partial_missing_list") or [])
                unexpected = sorted(str(v) for v in details.get("partial_unexpected_list") or [])
            else:
                observed = {str(v) for v in details.get("observed_value") or []}
                expected = {str(v) for v in kwargs["value_set"]}
                missing, unexpected = sorted(expected - observed), sorted(observed - expected)
            if not config.type.endswith("equal_set"):
                unexpected = []
            what = "; ".join(
                [f"missing {missing}"] * bool(missing) + [f"unexpected {unexpected}"] * bool(unexpected)
            )
            what = what or "a different set"
            threshold = f"{kwargs.get('column')} includes {missing}" if missing else threshold
            if unexpected:
                threshold += f" and not {unexpected}"
            named = {v.split(" ", 1)[0] for v in missing + unexpected}
            if "column_name" in frame:
                outcome.offending_rows.extend(int(i) for i in frame.index[frame["column_name"].isin(named)])
        elif details.get("unexpected_count") is not None:
            examples = ", ".join(repr(_plain(v)) for v in (details.get("partial_unexpected_list") or [])[:3])
            what = f"{details['unexpected_count']} of {details.get('element_count')} row(s) unexpected" + (
                f", e.g. {examples}" if examples else ""
            )
        else:
            what = f"observed {_plain(details.get('observed_value'))!r}"
        label = (config.description or "").rstrip(".") or config.type
        outcome.failures.append(
            {
                "expectation": config.type,
                "column": column,
                "description": config.description,
                "kwargs": _plain(kwargs),
                "unexpected_count": details.get("unexpected_count"),
                "summary": f"{label} [{config.type}" + (f" on {column}" if column else "") + f"]: {what}",
                "threshold": threshold,
            }
        )
        outcome.offending_rows.extend(int(i) for i in details.get("partial_unexpected_index_list") or [])
    return outcome


def _resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return parameters.get(value["$PARAMETER"], value)
    return value


def _condition(kind: str, kwargs: Mapping[str, Any]) -> str:
    """What an expectation requires, as a person reads it: ``cost_ratio between 0.1 and 10``."""
    kwargs = {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in kwargs.items()}
    column = kwargs.get("column")
    where = f" where {kwargs['row_condition']}" if kwargs.get("row_condition") else ""
    if kind == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is not None and high is not None:
            text = f"{column} = {low}" if low == high else f"{column} between {low} and {high}"
        else:
            text = f"{column} >= {low}" if low is not None else f"{column} <= {high}"
    elif kind == "expect_column_values_to_be_in_set":
        text = f"{column} in {list(kwargs['value_set'])}"
    elif kind == "expect_column_values_to_match_regex":
        text = f"{column} matches {kwargs['regex']}"
    elif kind == "expect_column_values_to_not_be_null":
        text = f"{column} not null"
    elif kind == "expect_column_pair_values_to_be_equal":
        text = f"{kwargs['column_A']} = {kwargs['column_B']}"
    elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
        text = f"{kwargs['column_A']} {'>=' if kwargs.get('or_equal') else '>'} {kwargs['column_B']}"
    elif kind == "expect_compound_columns_to_be_unique":
        text = f"({', '.join(kwargs['column_list'])}) unique"
    elif kind == "expect_column_distinct_values_to_contain_set":
        text = f"{column} includes {list(kwargs['value_set'])}"
    elif kind == "expect_column_distinct_values_to_equal_set":
        text = f"{column} is exactly {list(kwargs['value_set'])}"
    else:
        text = f"{kind}({', '.join(f'{k}={_plain(v)!r}' for k, v in kwargs.items())})"
    return text + where


def _plain(value: Any) -> Any:
    """A value as JSON would hold it (Dagster metadata, CheckResult samples)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, int):
        return value
    if value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


# --- validating a table ------------------------------------------------------------------------------


@dataclass
class TableOutcome:
    """Every section of one table suite over one billing period (or all of them)."""

    suite: TableSuite
    billing_period: str | None  # "YYYY-MM", or None for every period of the table
    sections: list[SectionOutcome] = field(default_factory=list)
    rows: int = 0
    cost: float | None = None
    skipped: str | None = None  # why nothing was validated (no table, no rows)
    seconds: float = 0.0

    def check_results(self) -> list[CheckResult]:
        target = self.suite.table
        return [
            CheckResult(
                name=f"gx:{outcome.suite.suite_name(outcome.section.name)}",
                layer="gx",
                target=target,
                status=outcome.status,  # type: ignore[arg-type]
                blocking=outcome.section.blocking,
                description=outcome.section.description,
                value=outcome.summary(),
                threshold=outcome.threshold(),
                sample=outcome.sample(),
                billing_period=self.billing_period,
            )
            for outcome in self.sections
        ]


def _in_engine_types(tables: SuiteTables, section: Section) -> Section:
    """The schema section with its column list in ``tables``' own type names (unchanged on DuckDB)."""
    if tables.engine == "duckdb":
        return section
    expectations = []
    for expectation in section.expectations:
        kwargs = dict(expectation["kwargs"])
        if kwargs.get("column") == "column" and isinstance(kwargs.get("value_set"), list):
            kwargs["value_set"] = [
                f"{name} {tables.type_name(data_type)}"
                for name, data_type in (value.split(" ", 1) for value in kwargs["value_set"])
            ]
        expectations.append({**expectation, "kwargs": kwargs})
    return Section(section.name, section.blocking, section.description, expectations)


def validate_table(
    con: duckdb.DuckDBPyConnection | SuiteTables,
    suite: TableSuite,
    gx_context: QualityContext,
    *,
    period: date | None = None,
    today: date | None = None,
    parameters: Mapping[str, Any] | None = None,
    run_name: str | None = None,
) -> TableOutcome:
    """Validate one table: one billing period (``period``), or every period it holds (``None``).

    ``con``: the DuckDB warehouse, or another engine's tables (:class:`~orchestration.quality.engines.SparkTables`)."""
    started = time.monotonic()
    con = tables_of(con)
    label = period.strftime("%Y-%m") if period else None
    outcome = TableOutcome(suite, label)
    if not table_exists(con, suite):
        if suite.is_landing:
            outcome.skipped = f"{suite.table} does not exist"
            return outcome
        outcome.sections = [
            SectionOutcome(suite, s, pd.DataFrame(), False, error=f"{suite.table} does not exist")
            for s in suite.sections.values()
        ]
        return outcome
    if period is not None:
        start, end = period.replace(day=1), _add_month(period.replace(day=1))
    else:
        periods = periods_with_rows(con, suite)
        if not periods:
            outcome.skipped = f"{suite.table} has no rows"
            return outcome
        start, end = periods[0], _add_month(periods[-1])
    today = today or datetime.now(UTC).date()
    params = {**suite.parameters, **(parameters or {})}
    run_name = run_name or (label or "all periods")
    try:
        volume = period_frame(con, suite, start, end, today)
    except con.errors as exc:
        volume = None
        volume_error = str(exc).splitlines()[0]
    if volume is not None and volume.empty:
        outcome.skipped = f"{suite.table} has no rows in {label or 'any period'}"
        return outcome
    if volume is not None:
        outcome.rows = int(volume["row_count"].sum())
        costs = volume["cost"].dropna()
        outcome.cost = float(costs.sum()) if len(costs) else None
    for section in suite.sections.values():
        try:
            if section.name == "schema":
                frame = schema_frame(con, suite)
            elif section.name == "values":
                frame = values_frame(con, suite, start, end)
            elif volume is None:
                raise RuntimeError(volume_error)
            else:
                frame = volume
        except (*con.errors, RuntimeError) as exc:
            outcome.sections.append(
                SectionOutcome(suite, section, pd.DataFrame(), False, error=str(exc).splitlines()[0][:300])
            )
            continue
        if section.name == "schema":
            section = _in_engine_types(con, section)
        try:
            outcome.sections.append(gx_context.validate(suite, section, frame, params, run_name))
        except Exception as exc:
            log.exception("GX failed on %s", suite.suite_name(section.name))
            outcome.sections.append(
                SectionOutcome(suite, section, frame, False, error=f"{type(exc).__name__}: {exc}"[:300])
            )
    outcome.seconds = time.monotonic() - started
    return outcome


def run_period_suites(
    con: duckdb.DuckDBPyConnection,
    period: date,
    data_docs_dir: Path | None,
    *,
    suites: Iterable[TableSuite] | None = None,
    today: date | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> list[CheckResult]:
    """Every table suite on one billing period: the landing tables and the public marts.

    One :class:`CheckResult` per suite section (``gx:<suite>.<section>``, layer ``gx``); a table with no
    rows in the period, or a landing table that does not exist, gives none. With ``data_docs_dir`` (e.g.
    ``Settings.data_docs``) the results are stored in the GX context beside it and rendered as Data Docs
    there. The caller holds the warehouse (``con``); GX's files are written while it does.
    """
    gx_context = QualityContext(data_docs_dir)
    results: list[CheckResult] = []
    for suite in suites if suites is not None else table_suites():
        outcome = validate_table(con, suite, gx_context, period=period, today=today, parameters=parameters,
                                 run_name=f"{period:%Y-%m} period")  # fmt: skip
        results.extend(outcome.check_results())
    gx_context.build_data_docs()
    return results
