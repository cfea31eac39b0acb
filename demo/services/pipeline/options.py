"""What a demo pipeline runs: stored in the orchestrating job's params, so a
redelivered or inspected pipeline reads the options it was started with."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MODALITIES = ("chest_ct", "brain_mri")


@dataclass(frozen=True)
class DemoOptions:
    """The defaults suit a 2-core laptop: the small stage 1 preset trains in minutes
    on the demo corpus, and stage 2 on 30 reports with the 0.5B LLM preset takes a
    few minutes more."""

    preset: str = "small"
    label_sources: str = "gold"
    # The demo has ~300 training reports per modality: the service's default of 8
    # epochs left chest CT at held-out macro F1 0.33; 25 reached 0.50 in 196 s
    # on a quiet 2-core machine (measured 2026-11-28).
    epochs: int | None = 25
    max_steps: int = 0  # 0: no cap (tests cap it)
    stage2_mode: str = "llm_hint"
    stage2_reports: int = 30  # over both modalities
    eval_modes: tuple[str, ...] = ("bert", "rules")
    modalities: tuple[str, ...] = MODALITIES

    def to_params(self) -> dict[str, Any]:
        params = asdict(self)
        params["eval_modes"] = list(self.eval_modes)
        params["modalities"] = list(self.modalities)
        return params

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DemoOptions:
        """The options of stored params; keys this version does not know are ignored."""
        known = {k: v for k, v in params.items() if k in cls.__dataclass_fields__}
        for name in ("eval_modes", "modalities"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)
