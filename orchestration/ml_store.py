"""Where the Python models read their inputs and write their outputs, on DuckDB or on Apache Spark.

``orchestration.predictions`` reads the marts with SQL both engines accept and writes its three tables of
schema ``ml`` (dbt's source ``ml``) through a store, never through an engine's own API:

- ``DuckDBStore(con)``: the tfm warehouse. A forecast date's rows (forecasts and backtests) are replaced in one
  transaction; the anomalies are replaced whole in one transaction.
- ``SparkStore(session)``: the catalog of the dbt profile's ``spark`` output (``orchestration.spark`` runs the
  models there between its two dbt steps). The tables are parquet; the forecast tables are partitioned by
  ``forecast_date``, so a forecast date is one partition overwritten (``insert overwrite``, dynamic
  partitions); the anomalies are overwritten whole. Parquet has no transactions: a run that fails half-way
  leaves a forecast date's backtests newer than its forecasts until the next run.

The tables are defined once (``ML_TABLES``) and created from that definition in each engine's DDL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

import pandas as pd

from orchestration.quoting import q, q_spark


@dataclass(frozen=True)
class MlColumn:
    name: str
    type: str  # DuckDB's name; SPARK_TYPES maps the ones Spark spells differently
    nullable: bool = False
    comment: str = ""


@dataclass(frozen=True)
class MlTable:
    name: str
    columns: tuple[MlColumn, ...]
    partition: str | None = None  # the column a whole slice is replaced by (Spark: its partition column)

    def relation(self, quote=q) -> str:
        return f"ml.{quote(self.name)}"

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


def _c(name: str, type_: str, nullable: bool = False, comment: str = "") -> MlColumn:
    return MlColumn(name, type_, nullable, comment)


ML_TABLES: dict[str, MlTable] = {
    # Every spend forecast made, kept with the date of the last actuals it saw (forecast_date), so that a
    # month's forecast can later be compared with what happened. One row per forecast, series and future day.
    "cost_forecasts": MlTable(
        "cost_forecasts",
        (
            _c("forecast_date", "DATE", comment="the last day of actual cost the forecast used"),
            _c("series_level", "VARCHAR", comment="organization | team | service | billing_account"),
            _c("series_key", "VARCHAR"),
            _c("currency", "VARCHAR"),
            _c("ds", "DATE", comment="the forecast day"),
            _c("mean", "DOUBLE"),
            _c("lo_80", "DOUBLE"),
            _c("hi_80", "DOUBLE"),
            _c("lo_95", "DOUBLE"),
            _c("hi_95", "DOUBLE"),
            _c("model", "VARCHAR"),
            _c("is_backfill", "BOOLEAN", comment="made later than forecast_date, from the data up to it"),
            _c("made_at", "TIMESTAMP"),
            _c("run_id", "VARCHAR", nullable=True),
        ),
        partition="forecast_date",
    ),
    # The rolling-origin backtest of each forecast: how the chosen model did on the series' own recent past.
    "forecast_backtests": MlTable(
        "forecast_backtests",
        (
            _c("forecast_date", "DATE"),
            _c("series_level", "VARCHAR"),
            _c("series_key", "VARCHAR"),
            _c("currency", "VARCHAR"),
            _c("model", "VARCHAR"),
            *(
                _c(name, "DOUBLE", nullable=True)
                for name in ("mase", "smape", "wape", "bias", "coverage_80", "coverage_95")
            ),
            _c("made_at", "TIMESTAMP"),
        ),
        partition="forecast_date",
    ),
    # Cost anomaly episodes, recomputed from the whole history on every run (first_detected_at is kept).
    "cost_anomalies": MlTable(
        "cost_anomalies",
        (
            _c("anomaly_id", "VARCHAR"),
            _c("series_level", "VARCHAR"),
            _c("series_key", "VARCHAR"),
            _c("currency", "VARCHAR"),
            _c("start_date", "DATE"),
            _c("end_date", "DATE"),
            _c("days", "INTEGER"),
            _c("actual_cost", "DOUBLE"),
            _c("expected_cost", "DOUBLE"),
            _c("impact", "DOUBLE"),
            _c("impact_pct", "DOUBLE", nullable=True),
            _c("peak_date", "DATE"),
            _c("peak_impact", "DOUBLE"),
            _c("max_score", "DOUBLE"),
            _c("direction", "VARCHAR"),
            _c("severity", "VARCHAR"),
            _c("status", "VARCHAR", comment="open (still anomalous on the series' last day) | closed"),
            _c(
                "root_causes",
                "VARCHAR",
                comment="JSON list of {dimension, value, impact, share}, largest first",
            ),
            _c("first_detected_at", "TIMESTAMP"),
            _c("scored_at", "TIMESTAMP"),
            _c("run_id", "VARCHAR", nullable=True),
        ),
    ),
}

SPARK_TYPES = {"VARCHAR": "STRING", "INTEGER": "INT"}


class MlStore(Protocol):
    """The Python models' view of one warehouse engine."""

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """The rows of a query written in SQL both engines accept, with ``?`` parameters."""
        ...

    def ensure_tables(self) -> None:
        """Create schema ``ml`` and its tables (empty) where they do not exist."""
        ...

    def replace_slices(self, frames: dict[str, pd.DataFrame], value: Any) -> None:
        """For each table name, replace its rows whose partition column equals ``value`` with the frame's."""
        ...

    def replace_table(self, name: str, frame: pd.DataFrame) -> None:
        """Replace every row of the table with the frame's."""
        ...


def _ordered(table: MlTable, frame: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in table.column_names if name not in frame.columns]
    if missing:
        raise ValueError(f"ml.{table.name}: the frame has no column {', '.join(missing)}")
    return frame[table.column_names]


class DuckDBStore:
    """The tfm warehouse (a DuckDB connection this store does not own)."""

    def __init__(self, con) -> None:
        self.con = con

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self.con.execute(sql, list(params)).df()

    def ensure_tables(self) -> None:
        self.con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        for table in ML_TABLES.values():
            columns = ", ".join(
                f"{q(c.name)} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in table.columns
            )
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {table.relation()} ({columns})")

    def _in_transaction(self, frames: dict[str, pd.DataFrame], statements) -> None:
        views = {f"tfm_ml_{name}": _ordered(ML_TABLES[name], frame) for name, frame in frames.items()}
        for view, frame in views.items():
            self.con.register(view, frame)
        self.con.execute("BEGIN TRANSACTION")
        try:
            for name in frames:
                statements(ML_TABLES[name], f"tfm_ml_{name}")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        finally:
            for view in views:
                self.con.unregister(view)

    def replace_slices(self, frames: dict[str, pd.DataFrame], value: Any) -> None:
        def replace(table: MlTable, view: str) -> None:
            self.con.execute(f"DELETE FROM {table.relation()} WHERE {q(table.partition)} = ?", [value])
            self.con.execute(f"INSERT INTO {table.relation()} SELECT * FROM {view}")

        self._in_transaction(frames, replace)

    def replace_table(self, name: str, frame: pd.DataFrame) -> None:
        def replace(table: MlTable, view: str) -> None:
            self.con.execute(f"DELETE FROM {table.relation()}")
            self.con.execute(f"INSERT INTO {table.relation()} SELECT * FROM {view}")

        self._in_transaction({name: frame}, replace)


def _spark_value(value: Any, type_: str) -> Any:
    """A pandas value as the Python value pyspark expects for the column's type."""
    if value is None or (not isinstance(value, str | bool) and pd.isna(value)):
        return float("nan") if type_ == "DOUBLE" and value is not None else None
    if type_ == "TIMESTAMP":
        # A naive timestamp here is UTC wall time; pyspark reads a naive datetime in the machine's zone.
        return pd.Timestamp(value).to_pydatetime().replace(tzinfo=UTC)
    if type_ == "DATE":
        return pd.Timestamp(value).date()
    if type_ == "DOUBLE":
        return float(value)
    if type_ == "INTEGER":
        return int(value)
    if type_ == "BOOLEAN":
        return bool(value)
    return str(value)


class SparkStore:
    """The catalog of a Spark session (the ``spark`` output's: see ``orchestration.spark.models_session``)."""

    def __init__(self, session) -> None:
        self.session = session

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return (self.session.sql(sql, args=list(params)) if params else self.session.sql(sql)).toPandas()

    def ensure_tables(self) -> None:
        self.session.sql("CREATE DATABASE IF NOT EXISTS ml")
        for table in ML_TABLES.values():
            columns = ", ".join(
                f"{q_spark(c.name)} {SPARK_TYPES.get(c.type, c.type)}"
                + (f" COMMENT '{_spark_text(c.comment)}'" if c.comment else "")
                for c in table.columns
            )
            partitioned = f" PARTITIONED BY ({q_spark(table.partition)})" if table.partition else ""
            self.session.sql(
                f"CREATE TABLE IF NOT EXISTS {table.relation(q_spark)} ({columns}) USING parquet{partitioned}"
            )

    def _data_frame(self, table: MlTable, frame: pd.DataFrame):
        """The frame as a Spark DataFrame in the table's column order (a partition column last, as Spark keeps
        it), typed by the table's definition rather than inferred."""
        from pyspark.sql import types as T

        spark_types = {
            "VARCHAR": T.StringType(), "DATE": T.DateType(), "DOUBLE": T.DoubleType(),
            "BOOLEAN": T.BooleanType(), "TIMESTAMP": T.TimestampType(), "INTEGER": T.IntegerType(),
        }  # fmt: skip
        order = [c for c in table.columns if c.name != table.partition]
        order += [c for c in table.columns if c.name == table.partition]
        schema = T.StructType([T.StructField(c.name, spark_types[c.type], True) for c in order])
        ordered = _ordered(table, frame)
        rows = [
            tuple(_spark_value(record[c.name], c.type) for c in order)
            for record in ordered.to_dict("records")
        ]
        return self.session.createDataFrame(rows, schema)

    def replace_slices(self, frames: dict[str, pd.DataFrame], value: Any) -> None:
        for name, frame in frames.items():
            table = ML_TABLES[name]
            # Delete, then insert: the slice's partition dropped, the new rows appended (an empty frame
            # leaves the slice empty, as on DuckDB). Partition specs take literals, not parameters.
            self.session.sql(
                f"ALTER TABLE {table.relation(q_spark)} DROP IF EXISTS PARTITION"
                f" ({q_spark(table.partition)} = '{_spark_text(_partition_text(value))}')"
            )
            if len(frame):
                self._data_frame(table, frame).write.insertInto(table.relation(q_spark), overwrite=False)

    def replace_table(self, name: str, frame: pd.DataFrame) -> None:
        table = ML_TABLES[name]
        self._data_frame(table, frame).write.insertInto(table.relation(q_spark), overwrite=True)


def _spark_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _partition_text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
