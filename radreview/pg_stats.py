"""Planner statistics for the tables a cohort job grows, refreshed as they grow.

    tables_analyze_grown([ReviewFinding, ReviewReport, Stage2Prediction])   # a chunk's start

A table that grew from nothing during a job has no statistics until autovacuum's
analyze gets to it, and autovacuum may lag or be off (it is off on the development
machine's server). Without statistics PostgreSQL's default selectivity for
`report_id = ANY(<500 ids>)` is half the table, so the review sync's read of a chunk's
live findings became a (parallel) sequential scan of all of them: at 100k reports,
5,796 scans read 792 million rows, and the combined stage's PostgreSQL CPU grew 16x
for 10x the reports. A table is analyzed when it holds at least MIN_ROWS rows and
more than GROWTH times the rows its statistics know of, so a job that grows a table
to N rows analyzes it about log2(N / MIN_ROWS) times (ANALYZE samples at most 30,000
rows: tens of ms). Other databases: nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router

GROWTH = 2.0
MIN_ROWS = 1_000


def tables_analyze_grown(tables: Sequence[type[models.Model]]) -> list[str]:
    """ANALYZE those of `tables` that grew past their statistics; returns their names.
    Call it outside a transaction (ANALYZE's lock is held until commit)."""
    if not tables:
        return []
    connection = connections[router.db_for_write(tables[0])]
    if connection.vendor != "postgresql":
        return []
    names = [m._meta.db_table for m in tables]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.name, c.reltuples, s.n_live_tup FROM unnest(%s::text[]) AS t(name) "
            "JOIN pg_class c ON c.oid = t.name::regclass "
            "JOIN pg_stat_user_tables s ON s.relid = c.oid",
            [names],
        )
        grown = [
            name
            for name, known, live in cursor.fetchall()
            if live >= MIN_ROWS and live > GROWTH * max(known, 0)
        ]
        for name in grown:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(name)}")
    return grown
