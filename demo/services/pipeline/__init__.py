"""The demo pipeline: after `demo_setup`, give every role real work by running the
jobs a site would run, in order, on the demo corpus.

    job, created = demo_pipeline_start(options=DemoOptions())   # start.py: the command
    demo_pipeline_task(job.id)                                   # demo/tasks.py: the worker

Steps (each its own Job row, so the runs page shows progress and failures; the
table is steps.py, one small module per kind of step):
    1. stage 2 (the combined extractor by default) on a hundred-odd reports,  stage2.py
       preferring reports nobody labelled so clinicians verify fresh ones
    2. review sync: those reports' predictions become review findings      review.py
       (the review queue has work minutes after the server answers)
    3. train a stage 1 model per modality (small preset, gold labels)   stage1.py
    4. promote it as the active version ("demo bootstrap", by the demo admin)
    5. stage 1 inference over every report of both modalities
    6. an evaluation run per modality on the held-out gold set, every mode   evaluation.py
       including the method's LLM-only ones

One orchestrating job (kind "other", params["demo_pipeline"]) runs the steps one
after another inside its worker (run.py), calling the very Celery tasks a site
enqueues (synchronously: a solo worker cannot wait for a message it would have to
run itself). The evaluation runs are enqueued as their own messages at the end.

Idempotent and resumable: starting again while a pipeline is queued, running or
succeeded does nothing; the orchestrator records each step's job id in its params
(records.py), so a redelivered orchestrator skips succeeded steps and resumes a
running one (the step services are themselves resumable). A modality that already
has an active model keeps it (no retraining). When a step fails, every later step
gets a failed Job row whose error names the step that failed and why. Cancelling
the orchestrator stops it before its next step.
"""
