"""The README's analyst queries and their output on the demo, kept true by running them.

Every ```sql block of README.md that is followed by a Markdown table is a query and its result on the demo
warehouse (``tfm demo``). ``python -m orchestration.readme_figures`` runs each query on the warehouse of
``$TFM_HOME`` and rewrites the tables (``--check`` only reports the ones that differ, exit 1); the test
suite runs the same queries on its demo warehouse, so a README figure that drifts fails a test.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

import duckdb

from orchestration.settings import REPO_ROOT

README = REPO_ROOT / "README.md"
_BLOCK = re.compile(r"```sql\n(?P<sql>.*?)```\n\n(?P<table>(?:\|[^\n]*\|\n)+)", re.DOTALL)


@dataclass(frozen=True)
class Figure:
    sql: str
    table: str  # the Markdown table as the README has it
    start: int  # the table's span in the README text
    end: int


def figures(text: str) -> list[Figure]:
    return [Figure(m["sql"], m["table"], m.start("table"), m.end("table")) for m in _BLOCK.finditer(text)]


def _cell(value) -> str:
    if value is None:
        return ""
    return str(value).replace("|", "\\|")


def render(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """A query's result as the README's Markdown table."""
    result = con.execute(sql)
    names = [column[0] for column in result.description]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in result.fetchall():
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(line.replace("|  |", "| |") for line in lines) + "\n"


def refresh(text: str, con: duckdb.DuckDBPyConnection) -> tuple[str, list[Figure]]:
    """The README with every table recomputed, and the figures that changed."""
    changed, out, last = [], [], 0
    for figure in figures(text):
        table = render(con, figure.sql)
        if table != figure.table:
            changed.append(figure)
        out += [text[last : figure.start], table]
        last = figure.end
    out.append(text[last:])
    return "".join(out), changed


def main(argv: list[str] | None = None) -> int:
    from orchestration.analyst import connect_readonly
    from orchestration.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report the tables that differ; change nothing")
    args = parser.parse_args(argv)
    con = connect_readonly(Settings.from_env().published)
    try:
        text = README.read_text(encoding="utf-8")
        updated, changed = refresh(text, con)
    finally:
        con.close()
    for figure in changed:
        print(f"differs: {figure.sql.splitlines()[0]} ...", file=sys.stderr)
    if not args.check and changed:
        README.write_text(updated, encoding="utf-8")
        print(f"rewrote {len(changed)} table(s) of {README.name}", file=sys.stderr)
    return 1 if args.check and changed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
