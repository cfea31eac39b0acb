"""Stage 2 modes as strategies, and their registry.

    schema.py     the modality's keys and lexicon as the modes want them; Stage2Error
    strategy.py   the interface of a mode (Stage2Mode) and the plan of a run (Stage2Plan)
    registry.py   the registered modes; which of them are pipeline modes
    llm.py        "llm" and "llm_hint": one strategy, parameterised by the stage 1 hint
    rules.py      "rules": the same-sentence baseline
    combined.py   "combined": rule engine + stage 1 + the LLM where needed (chest CT)
    builtin.py    registers the three modules' modes; called from InferenceConfig.ready()

The common code that stores, selects cohorts, runs batches and retries is
inference.services.stage2; it dispatches through the registry only. To add a mode,
write a Stage2Mode in a module here, register it in builtin.py, and add its name
to Stage2Prediction.Mode (the database's list; a test checks that they agree).
"""
