"""Where the Great Expectations suites read their frames: the DuckDB warehouse, or the same tables on Spark.

The suites' queries (``queries/*.sql``) and the volume query are written once, in DuckDB's dialect with named
parameters (``$period_start``). On Spark, sqlglot (a maintained SQL transpiler) rewrites them into Spark SQL
(``strftime`` -> ``date_format``, ``INTERVAL 1 MONTH``, ``count(*) FILTER``, ``$name`` -> ``:name``) and the
parameters are bound by Spark (``SparkSession.sql(..., args=...)``), never pasted into the text.

The schema section compares a table's columns with the suite's list of DuckDB types. On Spark a column is
named with Spark's type (``decimal(38,18)``, ``timestamp``, ``map<string,string>``) and the suite's list is
translated the same way (:meth:`SparkTables.type_name`): DuckDB's ``TIMESTAMP WITH TIME ZONE`` is Spark's
``timestamp`` and DuckDB's ``TIMESTAMP`` is ``timestamp_ntz``; ``JSON`` and ``VARCHAR`` are both ``string``
(Spark has no JSON type: a JSON column is text there).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Protocol

import duckdb
import pandas as pd

from orchestration.quoting import q_spark


class SuiteTables(Protocol):
    """What a suite reads from an engine."""

    engine: str
    errors: tuple[type[BaseException], ...]  # what a failed query raises: reported as the section's error

    def exists(self, schema: str, table: str) -> bool: ...

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        """(name, type) of each column, the type in the engine's own words."""
        ...

    def frame(self, sql: str, parameters: dict[str, Any]) -> pd.DataFrame:
        """``sql`` (DuckDB's dialect, ``$name`` parameters) run on the engine, as a pandas frame."""
        ...

    def type_name(self, duckdb_type: str) -> str:
        """A DuckDB type (as the suite files write them) in the words :meth:`columns` uses."""
        ...


class DuckDBTables:
    engine = "duckdb"
    errors: tuple[type[BaseException], ...] = (duckdb.Error,)

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def exists(self, schema: str, table: str) -> bool:
        return bool(
            self.con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [schema, table],
            ).fetchone()[0]
        )

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        return [
            (name, data_type)
            for name, data_type in self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
        ]

    def frame(self, sql: str, parameters: dict[str, Any]) -> pd.DataFrame:
        return self.con.execute(sql, parameters).df()

    def type_name(self, duckdb_type: str) -> str:
        return duckdb_type


@cache
def to_spark_sql(sql: str) -> str:
    """DuckDB SQL as Spark SQL (sqlglot); ``$name`` parameters become Spark's ``:name``."""
    import sqlglot

    statements = sqlglot.transpile(sql, read="duckdb", write="spark")
    if len(statements) != 1:
        raise ValueError(f"expected one SQL statement, found {len(statements)}")
    return statements[0]


class SparkTables:
    engine = "spark"

    def __init__(self, session) -> None:
        from pyspark.errors import PySparkException

        self.session = session
        self.errors = (PySparkException,)

    def exists(self, schema: str, table: str) -> bool:
        return bool(self.session.catalog.tableExists(table, schema))

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        fields = self.session.table(f"{q_spark(schema)}.{q_spark(table)}").schema.fields
        return [(f.name, f.dataType.simpleString()) for f in fields]

    def frame(self, sql: str, parameters: dict[str, Any]) -> pd.DataFrame:
        return self.session.sql(to_spark_sql(sql), args=dict(parameters)).toPandas()

    def type_name(self, duckdb_type: str) -> str:
        return spark_type_name(duckdb_type)


@cache
def spark_type_name(duckdb_type: str) -> str:
    """``DECIMAL(38,18)`` -> ``decimal(38,18)``, ``MAP(VARCHAR, VARCHAR)`` -> ``map<string,string>``,
    ``JSON`` -> ``string``: the way Spark's ``DataType.simpleString()`` writes the same type."""
    from sqlglot import exp

    text = re.sub(r"\bJSON\b", "VARCHAR", duckdb_type)
    spark = exp.DataType.build(text, dialect="duckdb").sql("spark")
    return re.sub(r"\s+", "", spark).lower()


def tables_of(source) -> SuiteTables:
    """A DuckDB connection (what most callers hold) as :class:`DuckDBTables`; a reader as it is."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        return DuckDBTables(source)
    return source
