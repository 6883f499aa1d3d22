"""The dbt project as Dagster assets. One translator decides every dbt asset's key and group.

dbt's artifacts and logs live under ``$TFM_HOME/dbt/target``, never in the source tree: the project parsed
when this module is imported (``manifest.json``, re-parsed when a project file changes), and one folder per
build, of which the last few are kept. dbt runs as ``tfm-dbt`` (:mod:`orchestration.dbt_child`): it dies
with the process that started it, and waits for the warehouse lock.
"""

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from pydantic import Field

from orchestration.dbt_child import PARENT_PID_ENV
from orchestration.defs.resources import TfmWarehouse
from orchestration.processes import record_process
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


class TfmDbtTranslator(DagsterDbtTranslator):
    """Sources become the ``raw`` ingestion assets; models are keyed ``<schema>/<name>`` and grouped by layer."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            # A source is the raw table ingestion writes: the same asset as the ingest asset of that table.
            table = props.get("identifier") or props["name"]
            return spec.replace_attributes(key=dg.AssetKey([props["schema"], table]), group_name="ingest")
        layer = props["fqn"][1] if len(props["fqn"]) > 2 else "dbt"
        return spec.replace_attributes(key=dg.AssetKey([props["schema"], props["name"]]), group_name=layer)


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        False,
        description=(
            "Rebuild every incremental model from scratch. Otherwise only the billing periods whose raw data "
            "changed since the last whole build are rebuilt (everything when the dbt project changed)."
        ),
    )


@dbt_assets(
    manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=TfmDbtTranslator()
)
def tfm_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: TfmWarehouse, config: DbtBuildConfig
):
    """Build (run and test) the selected dbt models: the billing periods that changed, or everything."""
    from orchestration.incremental import clear_plan, plan_build, project_fingerprint, write_plan

    record_process(context.instance, context.run.run_id)
    with warehouse.connect() as con:
        plan = plan_build(con, project_fingerprint(dbt_project.manifest_path), full_refresh=config.full_refresh)
        write_plan(con, plan, context.run.run_id)
    context.log.info(f"dbt build: {'everything' if plan.full_refresh else 'incremental'} ({plan.reason})")
    target_root = Settings.from_env().dbt_target_dir
    target_root.mkdir(parents=True, exist_ok=True)
    # dagster-dbt makes each build's folder under DBT_TARGET_PATH (and seeds it with partial_parse.msgpack
    # from there); tfm-dbt exits with this process.
    os.environ["DBT_TARGET_PATH"] = str(target_root)
    os.environ[PARENT_PID_ENV] = str(os.getpid())
    invocation = dbt.cli(["build", *plan.dbt_args()], context=context)
    try:
        yield from invocation.stream()
        # The next build parses only what changed since this one.
        parsed = invocation.target_path / "partial_parse.msgpack"
        if parsed.exists():
            shutil.copy2(parsed, target_root / "partial_parse.msgpack")
    finally:
        prune_build_folders(target_root)
        with warehouse.connect() as con:
            clear_plan(con)


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
