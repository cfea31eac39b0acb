"""Planner statistics refreshed for a table a job grew (radreview/pg_stats.py)."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from radreview.pg_stats import MIN_ROWS, tables_analyze_grown

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL statistics")


def _flush_counts() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")


def _known_rows() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'auth_group'::regclass")
        return float(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_table_is_analyzed_when_it_grew_past_its_statistics_and_not_again_until_it_doubles():
    Group.objects.bulk_create([Group(name=f"g{i}") for i in range(MIN_ROWS // 2)])
    _flush_counts()
    assert tables_analyze_grown([Group]) == []  # too small to matter
    Group.objects.bulk_create([Group(name=f"h{i}") for i in range(MIN_ROWS)])
    _flush_counts()
    assert tables_analyze_grown([Group]) == ["auth_group"]
    assert _known_rows() == Group.objects.count()  # the planner now knows the rows
    Group.objects.bulk_create([Group(name=f"k{i}") for i in range(MIN_ROWS)])
    _flush_counts()
    assert tables_analyze_grown([Group]) == []  # ~2,500 rows: not twice the ~1,500 known
