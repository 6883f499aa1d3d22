"""The dbt project as Dagster assets. One translator decides every dbt asset's key and group."""


import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT, dbt_target

# dbt is installed beside this interpreter (in the same virtualenv), which need not be on PATH.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=REPO_ROOT, target=dbt_target())

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


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=TfmDbtTranslator())
def tfm_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Build (run and test) the selected dbt models."""
    yield from dbt.cli(["build"], context=context).stream()


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(REPO_ROOT), target=dbt_target())
