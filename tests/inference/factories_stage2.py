"""Helpers for the stage 2 tests: a recorded-output LLM wired in as the configured backend."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from inference.ml.llm.backends import FakeBackend, LLMUnavailable
from inference.ml.llm.schemas import conform
from inference.services import stage2_backend

CHEST_TEXT = "Findings:\n8 mm nodule in the RUL.\nNo pleural effusion."
CHEST_OUTPUT = {
    "nodule": {"s": "present", "l": ["right upper lobe"], "e": "8 mm nodule in the RUL"},
    "pleural effusion": {"s": "negated", "e": "No pleural effusion"},
}


class ScriptedLLM:
    """A fake LLM whose answer depends on the report: `answers` maps a substring of
    the report to an output (dict, str, an exception to raise, or a callable (messages, schema) -> output).
    Dict outputs are written in the readable form ({"nodule": {"s", "l", "e"}}) and
    answered in the compact form the grammar produces. Unknown reports get "{}"."""

    def __init__(self, answers: dict[str, Any] | None = None, *, delay: float = 0.0) -> None:
        self.answers = answers or {}
        self.delay = delay
        self.backend = FakeBackend(self._answer, name="scripted-llm")

    def _answer(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> Any:
        if self.delay:
            time.sleep(self.delay)
        report = messages[-1]["content"]
        for needle, answer in self.answers.items():
            if needle in report:
                if isinstance(answer, BaseException):
                    raise answer
                if callable(answer):
                    answer = answer(messages, schema)
                return conform(answer, schema) if isinstance(answer, dict) else answer
        return "{}"

    @property
    def calls(self) -> list[Any]:
        return self.backend.calls


def install(monkeypatch: pytest.MonkeyPatch, llm: ScriptedLLM) -> ScriptedLLM:
    """Make `llm` the configured backend for every template."""
    monkeypatch.setattr(stage2_backend, "llm_backend", lambda template="": llm.backend)
    return llm


def flaky(failures: int, then: Any) -> Callable[[list[dict[str, str]], dict[str, Any]], Any]:
    """An answer that raises LLMUnavailable `failures` times, then returns `then`."""
    left = [failures]

    def answer(messages: list[dict[str, str]], schema: dict[str, Any]) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise LLMUnavailable("LLM server http://gpu:8080/v1/chat/completions is unreachable")
        return then

    return answer


def as_json(value: Any) -> str:
    return json.dumps(value)
