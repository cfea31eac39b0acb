"""The faster list dumper writes the bytes psycopg's own writes, and PostgreSQL reads
back what was sent."""

import pytest
from django.db import connection
from psycopg.types.array import ListDumper

from radreview.pg_arrays import FastListDumper

ODD = ['a "quoted" word', "back\\slash", '\\"both\\"', "", "NULL", "{braces}", "plain", "é ü"]


@pytest.mark.parametrize("value", ODD)
def test_escaping_equals_psycopgs(value):
    data = value.encode()
    assert FastListDumper._re_esc.sub(rb"\\\1", data) == ListDumper._re_esc.sub(rb"\\\1", data)


@pytest.mark.django_db
def test_postgresql_reads_back_what_was_sent():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [ODD])
        assert cursor.fetchone()[0] == ODD
    assert isinstance(connection.connection.adapters.get_dumper(list, "t")(list), FastListDumper)
