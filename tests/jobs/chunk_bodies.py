"""Chunk bodies for the tests of jobs.chunks, importable by a real worker process
(helpers import a chunk body by its dotted path)."""

from __future__ import annotations

import time

from annotations.models import WeakLabelSet
from jobs.chunks import chunk_counts_sum, chunk_writes
from jobs.models import Job, JobChunk


def label_chunk(job: Job, chunk: JobChunk) -> None:
    """One WeakLabelSet per (job, report), replaced in the chunk's transaction; sleeps
    job.params["sleep"] seconds first, so a test can kill its worker mid-chunk."""
    pause = float(job.params.get("sleep", 0))
    if pause:
        time.sleep(pause)
    cancel_after = job.params.get("cancel_after_index")
    with chunk_writes(chunk) as counts:
        WeakLabelSet.objects.filter(job=job, report_id__in=chunk.report_ids).delete()
        WeakLabelSet.objects.bulk_create(
            [
                WeakLabelSet(report_id=pk, mode="keyword", schema_version=1, job_id=job.pk)
                for pk in chunk.report_ids
            ]
        )
        counts.update(reports=len(chunk.report_ids), labelled=len(chunk.report_ids))
    if cancel_after is not None and chunk.index >= int(cancel_after):
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)


def fail_chunk(job: Job, chunk: JobChunk) -> None:
    if chunk.index == 1:
        raise ValueError("chunk one is broken")
    label_chunk(job, chunk)


def labelled_total(job: Job, chunks: list[JobChunk]) -> dict[str, int]:
    return chunk_counts_sum(chunks)


BODY = "tests.jobs.chunk_bodies.label_chunk"
FAILING = "tests.jobs.chunk_bodies.fail_chunk"
