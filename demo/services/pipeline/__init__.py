"""The demo pipeline: after `demo_setup`, give every role real work by running the
jobs a site would run, in order, on the demo corpus.

    job, created = demo_pipeline_start(options=DemoOptions())   # start.py: the command
    demo_pipeline_task(job.id)                                   # demo/tasks.py: the worker

Steps (each its own Job row, so the runs page shows progress and failures; the
table is steps.py, one small module per kind of step):
    1. train a stage 1 model per modality (small preset, gold labels)   stage1.py
    2. promote it as the active version ("demo bootstrap", by the demo admin)
    3. stage 1 inference over every report of both modalities
    4. stage 2 (llm_hint by default) on a few dozen reports per modality,  stage2.py
       preferring reports nobody labelled so clinicians verify fresh ones
    5. review sync: those reports' predictions become review findings      review.py
    6. an evaluation run per modality on the held-out gold set             evaluation.py

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
