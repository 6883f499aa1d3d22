"""The dbt project as Dagster assets. One translator decides every dbt asset's key and group.

dbt's artifacts and logs live under ``$TFM_HOME/dbt/target``, never in the source tree: the project parsed
when this module is imported (``manifest.json``, re-parsed when a project file changes), and one folder per
build, of which the last few are kept. dbt runs as ``tfm-dbt`` (:mod:`orchestration.dbt_child`): it dies
with the process that started it, and waits for the warehouse lock.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from pydantic import Field

from orchestration.dbt_child import PARENT_PID_ENV
from orchestration.defs.resources import TfmWarehouse
from orchestration.processes import record_process
from orchestration.quoting import q
from orchestration.settings import DBT_PROJECT_DIR, KEEP_DBT_RUNS, REPO_ROOT, Settings, dbt_target

# dbt is installed beside this interpreter (in the same virtualenv), which need not be on PATH.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

# The folder dagster-dbt names each build's artifacts after: ``<asset function>-<run id>-<random>``.
_RUN_FOLDER_PREFIX = "tfm_dbt_models-"

_settings = Settings.from_env()
# The profile names the warehouse through TFM_WAREHOUSE_PATH, which Settings.prepare sets: parse with the same
# value, or dbt's partial parsing of the builds finds the profile changed and parses everything again.
os.environ.setdefault("TFM_WAREHOUSE_PATH", str(_settings.warehouse))
dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=REPO_ROOT,
    target=dbt_target(),
    target_path=_settings.dbt_target_dir,
)

_PROJECT_INPUTS = ("models", "macros", "tests", "snapshots", "analyses")


def _manifest_is_stale(project: DbtProject) -> bool:
    """True when a model, macro, test, seed or the project file changed after the manifest was written."""
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    candidates = [DBT_PROJECT_DIR / "dbt_project.yml", REPO_ROOT / "profiles.yml"]
    for folder in _PROJECT_INPUTS:
        candidates.extend((DBT_PROJECT_DIR / folder).rglob("*"))
    candidates.extend((REPO_ROOT / "seeds").rglob("*"))
    return any(p.is_file() and p.stat().st_mtime > built for p in candidates)


if _manifest_is_stale(dbt_project):
    dbt_project.preparer.prepare(dbt_project)


# Tables a dbt source reads that a Python model writes, beside the table named after it: the same asset.
_WRITTEN_BY = {("ml", "forecast_backtests"): dg.AssetKey(["ml", "cost_forecasts"])}
# Model folders under marts/ that hold audits of the data rather than marts finance reads.
_QUALITY_FOLDERS = {"privacy"}


class TfmDbtTranslator(DagsterDbtTranslator):
    """One translator decides every dbt asset's key, group and the description of every dbt test.

    - Sources are the ingestion assets (``raw/<table>``) and the Python models' tables (``ml/...``): the same
      assets as those that write them. Models and seeds are keyed ``<schema>/<name>``.
    - Groups say what they hold: ``staging``, ``intermediate``, ``marts`` (dbt's folders), ``quality`` (the
      audit reports of ``marts/privacy``) and ``reference`` (the seeds: reference data edited by hand).
    - Every dbt test is an asset check on the model it proves, described in words: a generic test by what it
      asserts, a singular test by its description (dbt_project/tests/*/_*.yml), whose ``meta.dagster.ref``
      names the mart it proves when it reads several models.
    """

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        props = dbt_resource_props
        if props["resource_type"] == "source":
            table = props.get("identifier") or props["name"]
            return _WRITTEN_BY.get((props["schema"], table), dg.AssetKey([props["schema"], table]))
        return dg.AssetKey([props["schema"], props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        props = dbt_resource_props
        if props["resource_type"] == "source":
            return "ingest"
        if props["resource_type"] == "seed":
            return "reference"
        fqn = props["fqn"]
        if len(fqn) > 3 and fqn[1] == "marts" and fqn[2] in _QUALITY_FOLDERS:
            return "quality"
        return fqn[1] if len(fqn) > 2 else "reference"

    def get_asset_check_spec(
        self,
        asset_spec: dg.AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        # A test's other parents are lineage only when dbt builds them: a source (a raw table, a Python model's
        # table) as a check's dependency would make Dagster run the check in a step of its own, apart from the
        # model it proves, and dagster-dbt then select every test by name.
        sources = {self.get_asset_key(props) for props in manifest.get("sources", {}).values()}
        return dg.AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=describe_test(manifest["nodes"][unique_id], manifest),
            additional_deps=[dep for dep in spec.additional_deps if dep.asset_key not in sources],
            blocking=spec.blocking,
            metadata=spec.metadata,
        )


# Two ml sources are tables of one Python model (cost_forecasts writes forecasts and their backtests).
TRANSLATOR = TfmDbtTranslator(DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True))


def _ref_name(ref: str) -> str:
    """``ref('dim_services')`` -> ``dim_services``."""
    match = re.search(r"""ref\(\s*['"]([^'"]+)['"]""", ref or "")
    return match.group(1) if match else str(ref)


def describe_test(test: Mapping[str, Any], manifest: Mapping[str, Any]) -> str:
    """What a dbt test asserts, in one or two sentences, and what its failure does."""
    config = test.get("config", {})
    severity = (config.get("severity") or "error").lower()
    verdict = "Fails the build." if severity == "error" else "Warns when it fails; the build goes on."
    own = (test.get("description") or "").strip()
    if own:
        text = " ".join(own.split())
        return text if "Fails the build" in text or "Warns" in text else f"{text} {verdict}"
    meta = test.get("test_metadata") or {}
    kwargs = meta.get("kwargs", {})
    column = kwargs.get("column_name") or test.get("column_name")
    name = meta.get("name", "")
    if name == "not_null":
        text = f"`{column}` is never null."
    elif name == "unique":
        text = f"`{column}` is unique."
    elif name == "accepted_values":
        values = [str(v) for v in kwargs.get("values", [])]
        shown = ", ".join(values[:12]) + (f" (and {len(values) - 12} more)" if len(values) > 12 else "")
        text = f"`{column}` is one of: {shown}."
    elif name == "relationships":
        text = f"Every `{column}` is a `{kwargs.get('field')}` of {_ref_name(kwargs.get('to', ''))}."
    elif name == "unique_combination_of_columns":
        text = f"({', '.join(kwargs.get('combination_of_columns', []))}) identifies one row."
    elif name == "expression_is_true":
        text = f"`{kwargs.get('expression')}` holds on every row."
    else:
        arguments = ", ".join(f"{k}={v}" for k, v in kwargs.items() if k != "model")
        text = f"dbt test {name}({arguments})."
    where = config.get("where")
    if where:
        text += f" Rows where {where}."
    return f"{text} {verdict}"


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        False,
        description=(
            "Rebuild every incremental model from scratch. Otherwise only the billing periods whose raw data "
            "changed since the last whole build are rebuilt (everything when the dbt project changed)."
        ),
    )


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=TRANSLATOR)
def tfm_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: TfmWarehouse, config: DbtBuildConfig
):
    """Build (run and test) the selected dbt models: the billing periods that changed, or everything."""
    from orchestration.incremental import clear_plan, plan_build, project_fingerprint, write_plan

    record_process(context.instance, context.run.run_id)
    with warehouse.connect() as con:
        plan = plan_build(
            con, project_fingerprint(dbt_project.manifest_path), full_refresh=config.full_refresh
        )
        write_plan(con, plan, context.run.run_id)
    context.log.info(f"dbt build: {'everything' if plan.full_refresh else 'incremental'} ({plan.reason})")
    target_root = Settings.from_env().dbt_target_dir
    target_root.mkdir(parents=True, exist_ok=True)
    # dagster-dbt makes each build's folder under DBT_TARGET_PATH (and seeds it with partial_parse.msgpack
    # from there); tfm-dbt exits with this process.
    os.environ["DBT_TARGET_PATH"] = str(target_root)
    os.environ[PARENT_PID_ENV] = str(os.getpid())
    invocation = dbt.cli(["build", *plan.dbt_args()], context=context)
    _STARTED.append(invocation)
    # The marts' materializations and test results wait for dbt to end: their metadata (rows, cost per billing
    # period, a preview) is read from the warehouse, which dbt holds while it runs. The models before the first
    # mart are reported as dbt builds them.
    held: list = []
    failure: Exception | None = None
    try:
        try:
            for event in invocation.stream():
                # From the first mart on, every event waits: Dagster takes a step's outputs in dbt's order.
                if held or _mart_key(context, event) is not None:
                    held.append(event)
                else:
                    yield event
        except Exception as exc:  # noqa: BLE001 (dbt failed: what it built is reported, then the failure)
            failure = exc
        # The next build parses only what changed since this one.
        parsed = invocation.target_path / "partial_parse.msgpack"
        if failure is None and parsed.exists():
            shutil.copy2(parsed, target_root / "partial_parse.msgpack")
    finally:
        # dbt ends before its events do, unless reading them failed (Dagster could not write one, say): then dbt
        # is still building and holds the warehouse, which the step reads next, so it is stopped first.
        stop_dbt(invocation)
        if invocation in _STARTED:  # not when stop_abandoned_dbt came first
            _STARTED.remove(invocation)
        prune_build_folders(target_root)
        with warehouse.connect() as con:
            clear_plan(con)
    yield from _with_mart_metadata(context, held, warehouse)
    if failure is not None:
        raise failure


# The dbt invocations the dbt asset started in this process and has not yet seen end (stop_abandoned_dbt).
_STARTED: list[DbtCliInvocation] = []


def stop_abandoned_dbt() -> list[int]:
    """Stop the dbt processes this process started whose step is over: when Dagster cannot record one of the
    step's events (its storage full, say), it fails the step without closing the asset's generator, whose
    ``finally`` would stop dbt, so dbt went on building and holding the warehouse. A run in this process
    (``execute_in_process``) ends with this; a step in a process of its own takes its dbt with it
    (:mod:`orchestration.dbt_child`). Returns the PIDs stopped."""
    stopped = []
    for invocation in list(_STARTED):
        if stop_dbt(invocation) is not None:
            stopped.append(invocation.process.pid)
        _STARTED.remove(invocation)
    return stopped


def stop_dbt(invocation: DbtCliInvocation) -> int | None:
    """End a dbt process that is still running: an interrupt (dbt stops its threads and closes the warehouse), then,
    after the invocation's termination timeout, a kill. Returns its exit code, or None when it had already ended."""
    process = invocation.process
    if process.poll() is not None:
        return None
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=invocation.termination_timeout_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


# The marts whose rows add up to the money of a billing period: (period column, currency column, cost columns).
MART_COSTS = {
    "fct_focus_charges": ("BillingPeriodStart", "BillingCurrency", ("BilledCost", "EffectiveCost")),
    "fct_cost_allocation": ("billing_period_start", "billing_currency", ("billed_cost", "effective_cost")),
    "fct_showback_monthly": ("billing_period_start", "billing_currency", ("total_cost",)),
    "fct_chargeback_monthly": ("billing_period_start", "billing_currency", ("total_cost",)),
}
# Other marts count their rows per period when they have one of these columns.
PERIOD_COLUMNS = ("billing_period_start", "BillingPeriodStart", "month_start")
PREVIEW_ROWS = 5
PREVIEW_COLUMNS = 8
MAX_PERIODS_SHOWN = 24


def _mart_key(context: dg.AssetExecutionContext, event) -> dg.AssetKey | None:
    """The mart an event of the dbt build is about (its materialization or a test on it), if any."""
    if isinstance(event, dg.Output):
        key = context.assets_def.keys_by_output_name.get(event.output_name)
    elif isinstance(event, dg.AssetCheckResult):
        key = event.asset_key
    else:
        return None
    return key if key is not None and key.path[0] == "marts" else None


def _with_mart_metadata(context: dg.AssetExecutionContext, held: list, warehouse: TfmWarehouse):
    """The held marts' events, each materialization with what a person reads: rows, cost per billing period, a
    preview and its dbt tests' outcomes."""
    from orchestration.ingest.warehouse import connect

    if not held:
        return
    tests: dict[dg.AssetKey, dict[str, int]] = {}
    for event in held:
        if isinstance(event, dg.AssetCheckResult):
            counts = tests.setdefault(event.asset_key, {"passed": 0, "warned": 0, "failed": 0})
            if event.passed:
                counts["passed"] += 1
            elif event.severity == dg.AssetCheckSeverity.WARN:
                counts["warned"] += 1
            else:
                counts["failed"] += 1
    con = None
    try:
        con = connect(warehouse.warehouse_path, read_only=True, log=context.log.info)
    except Exception as exc:  # noqa: BLE001 (metadata is a courtesy: the build's outcome does not depend on it)
        context.log.warning(f"the marts' row counts could not be read: {exc}")
    try:
        for event in held:
            key = _mart_key(context, event) if isinstance(event, dg.Output) else None
            if key is not None and con is not None:
                try:
                    extra = mart_metadata(con, key.path[-1], tests.get(key))
                except duckdb.Error as exc:
                    context.log.warning(f"{key.to_user_string()}: its row counts could not be read: {exc}")
                    extra = {}
                event = event.with_metadata({**event.metadata, **extra})
            yield event
    finally:
        if con is not None:
            con.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):  # money: to the cent, and a fraction of a cent as it is
        text = f"{value:,.2f}" if value == 0 or abs(value) >= Decimal("0.01") else str(value.normalize())
    else:
        text = str(value)
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= 40 else text[:39] + "…"


def _markdown_table(header: list[str], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def mart_metadata(con: duckdb.DuckDBPyConnection, table: str, tests: dict[str, int] | None) -> dict:
    """Rows, rows and cost per billing period, a preview and the dbt tests' outcomes of one mart."""
    relation = f"marts.{q(table)}"
    columns = [
        name
        for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' AND table_name = ? "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]
    rows = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
    metadata: dict[str, Any] = {"dagster/row_count": rows}
    period, currency, costs = MART_COSTS.get(table) or (
        next((c for c in PERIOD_COLUMNS if c in columns), None),
        None,
        (),
    )
    if period:
        keys = [f"strftime(CAST({q(period)} AS DATE), '%Y-%m')"] + ([q(currency)] if currency else [])
        sums = [f"sum({q(c)})" for c in costs]
        by_period = con.execute(
            f"SELECT {', '.join(keys)}, count(*) {''.join(', ' + s for s in sums)} FROM {relation} "
            f"GROUP BY ALL ORDER BY 1 DESC, 2 LIMIT {MAX_PERIODS_SHOWN}"
        ).fetchall()
        header = ["billing period"] + (["currency"] if currency else []) + ["rows", *costs]
        metadata["by_billing_period"] = dg.MetadataValue.md(_markdown_table(header, by_period))
    if costs:
        totals = con.execute(
            f"SELECT {q(currency)}, {', '.join(f'sum({q(c)})' for c in costs)} FROM {relation} "
            "GROUP BY ALL ORDER BY 1"
        ).fetchall()
        for index, cost in enumerate(costs, start=1):
            metadata[cost] = dg.MetadataValue.text(
                "; ".join(f"{row[index]:,.2f} {row[0]}" for row in totals if row[index] is not None) or "0"
            )
    shown = columns[:PREVIEW_COLUMNS]
    if shown:
        preview = con.execute(
            f"SELECT {', '.join(q(c) for c in shown)} FROM {relation} LIMIT {PREVIEW_ROWS}"
        ).fetchall()
        more = f" (first {len(shown)} of {len(columns)} columns)" if len(columns) > len(shown) else ""
        metadata["preview"] = dg.MetadataValue.md(
            _markdown_table(shown, preview) + f"\n\n{len(preview)} of {rows:,} rows{more}."
        )
    if tests:
        metadata["dbt_tests"] = ", ".join(f"{count} {outcome}" for outcome, count in tests.items())
        metadata["dbt_tests_failed"] = tests["failed"]
    return metadata


def dbt_selection(select: str | None) -> dg.AssetSelection:
    """The dbt assets a dbt selection names, and the dbt tests dbt can run on them.

    dagster-dbt resolves a selection's tests eagerly: a relationships test is chosen when either of its two
    models is, and is then passed to dbt by name, so on a fresh or partial warehouse ``--select
    +fct_focus_charges`` ran the masking report's test against a report that did not exist. Selecting the
    assets with exactly their own checks lets dagster-dbt pass only the models, and dbt's ``buildable``
    indirect selection (dbt_project.yml) adds the tests whose every parent is selected or built before.
    """
    from dagster_dbt import build_dbt_asset_selection

    selection = build_dbt_asset_selection([tfm_dbt_models], dbt_select=select or "fqn:*")
    if select is None:
        return selection
    return dg.AssetSelection.assets(*selection.resolve([tfm_dbt_models]))


def prune_build_folders(target_root: Path, keep: int = KEEP_DBT_RUNS) -> list[Path]:
    """Delete all but the ``keep`` newest per-build folders under ``target_root``; returns those deleted."""
    folders = [p for p in target_root.glob(f"{_RUN_FOLDER_PREFIX}*") if p.is_dir()]
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for folder in folders[keep:]:
        shutil.rmtree(folder, ignore_errors=True)
    return folders[keep:]


def dbt_executable() -> str:
    """``tfm-dbt``, installed beside this interpreter with tfm (``[project.scripts]``)."""
    beside = Path(sys.executable).with_name("tfm-dbt")
    found = str(beside) if beside.exists() else shutil.which("tfm-dbt")
    if not found:
        raise RuntimeError(
            "the tfm-dbt command is not installed beside this Python; reinstall tfm (pip install -e .) "
            "to get it"
        )
    return found


class TfmDbtCliResource(DbtCliResource):
    """dbt through ``tfm-dbt``, without the dbt adapter dagster-dbt would set up in this process.

    dagster-dbt builds that adapter (loading every macro, seconds per build) only to read column metadata and
    row counts after the build, which tfm does not ask for and which could not work here anyway: they open a
    second connection to the DuckDB file while dbt holds its lock.
    """

    def _initialize_dbt_core_adapter(self, args: list[str]) -> None:
        return None


def dbt_resource() -> DbtCliResource:
    return TfmDbtCliResource(
        project_dir=dbt_project,
        profiles_dir=str(REPO_ROOT),
        target=dbt_target(),
        dbt_executable=dbt_executable(),
    )
