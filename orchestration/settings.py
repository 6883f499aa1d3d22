"""Where tfm keeps its files, read once from the environment.

``TFM_HOME`` (default ``./.tfm``) holds the warehouse (``warehouse.duckdb``), the landing folder
(``landing/``, overridable with ``TFM_LANDING``) and the Dagster instance (``dagster/``, unless
``DAGSTER_HOME`` is set).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"

_DAGSTER_YAML = """\
# Written by tfm. DuckDB takes one writer at a time, so runs are queued one by one.
run_queue:
  max_concurrent_runs: 1
telemetry:
  enabled: false
"""


@dataclass(frozen=True)
class Settings:
    home: Path
    landing: Path
    dagster_home: Path

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("TFM_HOME") or ".tfm").expanduser().resolve()
        landing = Path(env.get("TFM_LANDING") or home / "landing").expanduser().resolve()
        dagster_home = Path(env.get("DAGSTER_HOME") or home / "dagster").expanduser().resolve()
        return cls(home=home, landing=landing, dagster_home=dagster_home)

    def prepare(self) -> None:
        """Create the folders, and point dbt and Dagster at them through the environment."""
        for folder in (self.home, self.dagster_home):
            folder.mkdir(parents=True, exist_ok=True)
        # The default landing folder is created on first use. A landing folder named by TFM_LANDING or
        # --landing never is: a typo, or a share that is not mounted, must be an error, not an empty folder
        # that makes every loaded period look deleted.
        if self.landing == self.home / "landing":
            self.landing.mkdir(parents=True, exist_ok=True)
        config = self.dagster_home / "dagster.yaml"
        if not config.exists():
            config.write_text(_DAGSTER_YAML)
        os.environ["TFM_HOME"] = str(self.home)
        os.environ["TFM_LANDING"] = str(self.landing)
        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        os.environ["TFM_WAREHOUSE_PATH"] = str(self.warehouse)


def dbt_target(env: Mapping[str, str] | None = None) -> str:
    """The dbt target for this environment: ``TFM_DBT_TARGET`` if set, ``ci`` under CI, else ``dev``."""
    env = os.environ if env is None else env
    if env.get("TFM_DBT_TARGET"):
        return env["TFM_DBT_TARGET"]
    return "ci" if env.get("CI", "").lower() in ("1", "true", "yes") else "dev"
