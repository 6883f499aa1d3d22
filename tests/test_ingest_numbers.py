"""Numbers in text files: the fast conversion to DECIMAL(38,18) gives exactly what DuckDB's own cast gives."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from orchestration.ingest.formats import MONEY_TYPE, _convert
from orchestration.ingest.warehouse import connect

EDGES = [
    "", " ", "0", "-0", "0.0", ".5", "5.", "+1e-3", "1e-20", "-5E-19", "5E-19", "4.9E-19", "-0.0000000000000000005",
    "9.99999999999999999999E-1", "0.9999999999999999995", "1e0", "1E+2", "1.5e2", "abc", "1e", "e5", "1e-", "--1",
    "0x10", "1_000", "1,5", "NaN", "inf", " 1.2E-9 ", "1.2E-9x", "1.23456789012345678901234567890E-5", "-1.8E-8",
    "1e-18", "1e-19", "5e-19", "1E-400", "1E400", "00000.1e-2", "1.0E-01", ".e1", ".e-1", "1.e-3", "-.5e-1", "1e-99",
    "-1.5E+01", "+.e-1", "5.2E-9", "1.32E-6", "123456789012345678E-5", "1234567890123456789E-5", "1e-0", "12E-00",
    "+5", "5.", "-0.000", "123456789012345678", "1234567890123456789", "-999999999999999999", "0.000000000000000001",
    "99999999999999999.9", "0.1234567890123456789", "-0.0000000000000000015",
]  # fmt: skip


def _fuzz(count: int) -> list[str]:
    rng = random.Random(11)
    values = []
    for _ in range(count):
        text = rng.choice(["", "-", "+"]) + "".join(
            rng.choice("0123456789") for _ in range(rng.randint(0, 22))
        )
        if rng.random() < 0.7:
            text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 22)))
        if rng.random() < 0.7:
            text += rng.choice("eE") + rng.choice(["", "-", "-", "+"]) + str(rng.randint(0, 45))
        values.append(text)
    return values


@pytest.fixture(scope="module")
def con():
    con = connect(":memory:")
    yield con
    con.close()


def test_money_conversion_gives_what_try_cast_gives(con) -> None:
    con.execute("CREATE TEMP TABLE numbers AS SELECT unnest(?) AS v", [EDGES + _fuzz(40_000)])
    fast, _check = _convert('"v"', "VARCHAR", MONEY_TYPE)
    assert "tfm_money" in fast
    plain = f"TRY_CAST(nullif(trim(\"v\"), '') AS {MONEY_TYPE})"
    total, valid, different = con.execute(
        f"SELECT count(*), count({plain}), count(*) FILTER ({plain} IS DISTINCT FROM {fast}) FROM numbers"
    ).fetchone()
    assert total > 40_000 and valid > 15_000
    assert different == 0, con.execute(
        f"SELECT v, {plain}, {fast} FROM numbers WHERE {plain} IS DISTINCT FROM {fast} LIMIT 5"
    ).fetchall()


def test_exponent_rewrite_examples(con) -> None:
    rows = con.execute(
        "SELECT tfm_plain_number(v) FROM unnest(['5.2E-9', '-1.32e-6', '+12.5E-1', '7e-0', '1e-3x', '1.5E2']) t(v)"
    ).fetchall()
    assert [r[0] for r in rows] == ["0.0000000052", "-0.00000132", "+1.25", "7", "1e-3x", "1.5E2"]
    fast, _check = _convert('"v"', "VARCHAR", MONEY_TYPE)
    value = con.execute(f"SELECT {fast} FROM (SELECT '2.5E-17' AS v)").fetchone()[0]
    assert value == Decimal("0.000000000000000025")
