"""Register the built-in stage 2 modes (called once, from InferenceConfig.ready()).

The order is the order forms, the API and evaluation tables list them in."""

from __future__ import annotations

from inference.services.stage2_modes.combined import CombinedMode
from inference.services.stage2_modes.llm import LLMMode
from inference.services.stage2_modes.registry import stage2_mode_register
from inference.services.stage2_modes.rules import RulesMode


def register_builtin_modes() -> None:
    stage2_mode_register(LLMMode(hint=False))
    stage2_mode_register(LLMMode(hint=True))
    stage2_mode_register(RulesMode())
    stage2_mode_register(CombinedMode())
