"""The one place Python code turns a value that came from data into SQL text.

Values are bound as parameters wherever DuckDB accepts a parameter. Where it does not (identifiers, and
the arguments of table functions such as ``read_csv``), text from files, folders and users goes through
these two functions, which escape the quote character by doubling it, so it can only ever be read as the
name or the string it is.
"""

from __future__ import annotations


def q(identifier: str) -> str:
    """Quote an SQL identifier: ``a"b`` -> ``"a""b"``."""
    return '"' + str(identifier).replace('"', '""') + '"'


def lit(value: object) -> str:
    """Quote an SQL string literal: ``it's`` -> ``'it''s'``."""
    return "'" + str(value).replace("'", "''") + "'"


def q_spark(identifier: str) -> str:
    """Quote an identifier in Spark SQL: ``a`b`` -> ```a``b```."""
    return "`" + str(identifier).replace("`", "``") + "`"
