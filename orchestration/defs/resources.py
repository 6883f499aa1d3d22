"""The warehouse resource shared by every asset that writes to DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.ingest.warehouse import connect, ensure_schema
from orchestration.processes import record_process
from orchestration.settings import Settings


class TfmWarehouse(dg.ConfigurableResource):
    """The DuckDB warehouse file, the landing folder it is loaded from, and the folder (empty: none) where
    ingest also writes the raw layer as parquet (``TFM_RAW_PARQUET_DIR``)."""

    warehouse_path: str
    landing_path: str
    raw_parquet_path: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> TfmWarehouse:
        return cls(
            warehouse_path=str(settings.warehouse),
            landing_path=str(settings.landing),
            raw_parquet_path=str(settings.raw_parquet or ""),
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A run launched by Dagster's daemon or UI names the process executing it, as the CLI's runs do, so
        # that a killed run can be told from a running one.
        if context.instance is not None and context.run is not None:
            record_process(context.instance, context.run.run_id)

    @property
    def landing(self) -> Path:
        return Path(self.landing_path)

    @property
    def raw_parquet(self) -> Path | None:
        return Path(self.raw_parquet_path) if self.raw_parquet_path else None

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The warehouse, once no other process holds its lock (waits up to TFM_LOCK_TIMEOUT, then fails)."""
        Path(self.warehouse_path).parent.mkdir(parents=True, exist_ok=True)
        con = connect(self.warehouse_path)
        try:
            ensure_schema(con)
            yield con
        finally:
            con.close()
