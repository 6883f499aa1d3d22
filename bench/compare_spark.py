"""Compare the public marts of a DuckDB build with the same marts built on Spark, to the cent.

    python bench/compare_spark.py --duckdb WAREHOUSE.duckdb --spark-warehouse DIR

For every table of the schema ``marts`` in the DuckDB warehouse, reads the table Spark wrote under
``DIR/marts.db/<table>`` (parquet, the session's warehouse folder: TFM_SPARK_WAREHOUSE) and prints one line:
its row count on both engines and, for every DECIMAL column, whether the sums are equal to the cent (the sums
are exact DECIMAL on both sides; the largest difference is printed). Exits 1 when a table is missing on Spark,
a row count differs or a sum differs by a cent or more.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path

import duckdb

from orchestration.quoting import lit, q

CENT = Decimal("0.01")


def compare(warehouse: Path, spark_warehouse: Path) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_catalog = current_database()"
            " and table_schema = 'marts' and table_type = 'BASE TABLE' order by table_name"
        ).fetchall()
    ]
    failures = 0
    print(
        f"{'mart':<32} {'rows duckdb':>12} {'rows spark':>12} {'money cols':>10} {'max |diff|':>14}  result"
    )
    for table in tables:
        decimals = [
            name
            for name, data_type in con.execute(
                "select column_name, data_type from information_schema.columns where table_catalog ="
                " current_database() and table_schema = 'marts' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            if data_type.startswith("DECIMAL")
        ]
        sums = ", ".join(f"sum({q(name)})" for name in decimals)
        duck = con.execute(f"select count(*){', ' + sums if sums else ''} from marts.{q(table)}").fetchone()
        folder = spark_warehouse / "marts.db" / table
        if not folder.is_dir():
            print(f"{table:<32} {duck[0]:>12} {'missing':>12} {len(decimals):>10} {'':>14}  FAIL")
            failures += 1
            continue
        # Spark names a partition folder column=value, and writes no file for an empty table.
        files = lit(str(folder / "**" / "*.parquet"))
        if any(folder.rglob("*.parquet")):
            spark = con.execute(
                f"select count(*){', ' + sums if sums else ''} from read_parquet({files}, hive_partitioning = true)"
            ).fetchone()
        else:
            spark = (0,) + (None,) * len(decimals)
        worst = max(
            (abs((a or 0) - (b or 0)) for a, b in zip(duck[1:], spark[1:], strict=True)),
            default=Decimal(0),
        )
        ok = duck[0] == spark[0] and worst < CENT
        failures += not ok
        print(
            f"{table:<32} {duck[0]:>12} {spark[0]:>12} {len(decimals):>10} {worst:>14.6f}  {'ok' if ok else 'FAIL'}"
        )
    con.close()
    print(f"{len(tables) - failures} of {len(tables)} marts equal (row counts; DECIMAL sums to the cent)")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duckdb", type=Path, required=True, help="the DuckDB warehouse")
    parser.add_argument(
        "--spark-warehouse", type=Path, required=True, help="the Spark session's warehouse folder"
    )
    options = parser.parse_args(argv)
    return compare(options.duckdb, options.spark_warehouse)


if __name__ == "__main__":
    sys.exit(main())
