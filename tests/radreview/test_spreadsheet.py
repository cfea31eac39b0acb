"""CSV cells never start with a formula character, and the escape is undone exactly
(radreview/spreadsheet.py)."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radreview.spreadsheet import FORMULA_START, cell_escape, cell_unescape, safe_row, safe_writer


@pytest.mark.parametrize("first", list(FORMULA_START))
def test_a_cell_starting_with_a_formula_character_gets_a_leading_quote(first):
    assert cell_escape(f'{first}HYPERLINK("http://x")') == f'\'{first}HYPERLINK("http://x")'


def test_plain_text_and_inner_formula_characters_are_left_alone():
    assert [cell_escape(v) for v in ("Small nodule", "a=b", "1-2", "")] == ["Small nodule", "a=b", "1-2", ""]


def test_a_quote_before_a_formula_character_is_escaped_too_so_unescaping_is_exact():
    assert cell_escape("'=1") == "''=1" and cell_unescape("''=1") == "'=1"
    assert cell_unescape("'plain") == "'plain"


@given(st.text())
def test_unescape_undoes_escape(value):
    assert cell_unescape(cell_escape(value)) == value


def test_the_writer_quotes_text_and_leaves_numbers_and_none_bare():
    buffer = io.StringIO()
    safe_writer(buffer).writerow(safe_row(["=SUM(A1)", "-", 3, -0.5, None, "a;=cmd"]))
    assert buffer.getvalue() == '"\'=SUM(A1)","\'-",3,-0.5,"","a;=cmd"\n'
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["'=SUM(A1)", "'-", "3", "-0.5", "", "a;=cmd"]
