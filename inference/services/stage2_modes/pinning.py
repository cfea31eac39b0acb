"""What a stage 2 run starts with, kept on its job so that a resumed job reads the
same schema, rules and stage 1 version however the site's changed meanwhile (an
annotator's "learn" adds an entity value and moves the schema version; an admin
edits a trigger; a new stage 1 model is promoted).

    inputs = plan_inputs(modality)          # JSON for job.params["pinned"]
    with pinned(inputs):                    # the run's plan and every report of it
        run = stage2_plan(modality=..., mode=...)

The LLM cannot be pinned (the configured server or file is what there is): a job
whose LLM changed goes on with the new one under its new run key, and says so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from annotations.models import Modality
from annotations.selectors import site_ruleset
from inference.ml.text.rules import ruleset_from_json, ruleset_pinned, ruleset_to_json
from inference.selectors import model_version_active, stage1_version_pinned
from inference.services.stage2_modes.schema import (
    modality_schema,
    schema_from_json,
    schema_pinned,
    schema_to_json,
)


def plan_inputs(modality: Modality) -> dict[str, Any]:
    version = model_version_active(modality=modality)
    return {
        "schema": schema_to_json(modality_schema(modality)),
        "rules": ruleset_to_json(site_ruleset(modality=modality)),
        "stage1_version": version.pk if version else None,
    }


@contextmanager
def pinned(inputs: Mapping[str, Any] | None) -> Iterator[None]:
    """The schema, rules and stage 1 version of `inputs` within the block (None: the
    site's current ones, for jobs created before runs were pinned)."""
    with ExitStack() as stack:
        if inputs:
            stack.enter_context(schema_pinned(schema_from_json(inputs["schema"])))
            stack.enter_context(ruleset_pinned(ruleset_from_json(inputs["rules"])))
            stack.enter_context(stage1_version_pinned(inputs.get("stage1_version")))
        yield
