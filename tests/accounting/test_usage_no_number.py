"""Which text of a count is no number, though DuckDB reads one (`1_000`; `1.500` in a CSV separated
by ';'), is one rule (`no_number_sql`): the rating's reading of a count (`number_text_sql`, which
the report's view shares) and its duplicate search (`UsageReader._compared`) ask it alike.  They
held two copies of it, one a boolean, one a NULL, which a change to one would have set apart."""

from __future__ import annotations

import random

import duckdb
import pytest

from accounting.usage import no_number_sql, number_text_sql

KNOWN = [  # (text, no number in any file, no number in a file separated by ';')
    ("60", False, False),
    ("60.5", False, False),
    ("1_000", True, True),
    ("1.500", False, True),
    ("\t1.500", False, True),
    ("12.000.000", False, True),
    ("1.234,5", False, True),
    ("0.500", False, False),  # (no thousands: a leading zero)
]


def _texts(seed: int, n: int) -> list[str | None]:
    rnd = random.Random(seed)
    alphabet = "0123456789012345678.._, \t,+-e"
    texts: list[str | None] = [None, "", *(t for t, _, _ in KNOWN)]
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 12))) for _ in range(n)]
    return texts


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("decimal_comma", [False, True])
def test_a_count_is_read_as_its_number_exactly_where_the_rule_says_it_is_one(
    grouped: bool, decimal_comma: bool
) -> None:
    texts = _texts(len(KNOWN) + grouped, 2_000)
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS x", [texts])
    got = con.execute(
        f"SELECT x, {no_number_sql('x', grouped=grouped)}, "
        f"{number_text_sql('x', decimal_comma=decimal_comma, grouped=grouped)} IS NULL FROM t"
    ).fetchall()
    assert len(got) == len(texts)
    for text, no_number, unread in got:
        assert unread == (text is None or bool(no_number)), repr(text)
    known = {text: (no, no_grouped) for text, no, no_grouped in KNOWN}
    assert {x: bool(no) for x, no, _ in got if x in known} == {x: pair[grouped] for x, pair in known.items()}


@pytest.mark.parametrize("space", [" ", "\t", "\v", "\f", "\r", "\n"])
def test_a_decimal_comma_is_read_past_the_whitespace_duckdb_reads_a_number_past(space: str) -> None:
    """`\\v60,5` is read as `\\v60.5` is (60.5), as `\\t60,5` was: the decimal comma's form took
    the whitespace of a regular expression's `\\s`, which has no vertical tab, and left the text a
    bare malformed value."""
    con = duckdb.connect()
    for text in (f"{space}60,5", f"60,5{space}", f"{space}60,5{space}"):
        point = text.replace(",", ".")
        got = con.execute(
            f"SELECT TRY_CAST({number_text_sql('x', decimal_comma=True, grouped=True)} AS DOUBLE), "
            "TRY_CAST(y AS DOUBLE) FROM (SELECT ?::VARCHAR AS x, ?::VARCHAR AS y)",
            [text, point],
        ).fetchone()
        assert got == (60.5, 60.5), repr(text)
