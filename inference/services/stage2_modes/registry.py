"""The registry of stage 2 modes. InferenceConfig.ready() registers the built-in
modes (stage2_modes.builtin); nothing registers at import time.

    stage2_mode_get("llm_hint")       # the strategy, or Stage2Error naming the known modes
    stage2_modes()                    # name -> strategy, in registration order
    pipeline_mode_names()             # the modes whose predictions may stand for a report
"""

from __future__ import annotations

from typing import Any

from inference.services.stage2_modes.schema import Stage2Error
from inference.services.stage2_modes.strategy import Stage2Mode

_MODES: dict[str, Stage2Mode[Any]] = {}


def stage2_mode_register(mode: Stage2Mode[Any]) -> None:
    """Make `mode` available under its name (re-registering a name replaces it)."""
    _MODES[mode.name] = mode


def stage2_modes() -> dict[str, Stage2Mode[Any]]:
    return dict(_MODES)


def stage2_mode_get(name: str) -> Stage2Mode[Any]:
    mode = _MODES.get(name)
    if mode is None:
        raise Stage2Error(f"unknown stage 2 mode {name!r}; use one of {', '.join(_MODES)}")
    return mode


def stage2_no_prompt_note(name: str) -> str:
    """What the provenance panel says when a stored prediction of mode `name` holds
    no prompt (a mode no longer registered gets the generic words)."""
    mode = _MODES.get(name)
    return mode.no_prompt_note if mode is not None else "No prompt stored."


def pipeline_mode_names() -> tuple[str, ...]:
    return tuple(name for name, mode in _MODES.items() if mode.pipeline)
