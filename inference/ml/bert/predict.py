"""Stage-1 inference from an artefact directory.

    predictor = Stage1Predictor.load(Path("var/models/v7"), quantize=True)
    [pred] = predictor.predict(["Small nodule in the RUL."])
    pred.probs["nodule"], pred.labels["nodule"], pred.truncated, pred.warnings

Batches are formed by token length (sorted, so padding is small) and results come back
in input order. A report longer than the model's max_len is cut to its first max_len
tokens and says so (`truncated`, plus a warning line, also logged). A report with no
text after normalization is not run through the network: it has no findings, so every
probability is 0.0. `quantize=True` applies int8 dynamic quantization to every Linear
layer (measured faster on CPU with unchanged F1; re-measure with bench/stage1_bench.py).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from .artifacts import LoadedArtifact, Manifest, load_artifact
from .data import EncodedTexts, collate, encode_texts, length_batches, pad_id
from .windows import Window, report_windows

logger = logging.getLogger(__name__)

EMPTY_WARNING = "empty report: no text left after normalization; no findings predicted"


@dataclass(frozen=True, slots=True)
class KeyPrediction:
    """One report's stage-1 output. `labels[k]` is `probs[k] >= threshold[k]`."""

    probs: dict[str, float]
    labels: dict[str, bool]
    truncated: bool
    n_tokens: int
    warnings: tuple[str, ...] = ()

    @property
    def present_keys(self) -> list[str]:
        return [key for key, on in self.labels.items() if on]


class Stage1Predictor:
    """A loaded classifier with its tokenizer, thresholds and manifest."""

    def __init__(self, loaded: LoadedArtifact, *, quantized: bool = False, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.model: nn.Module = loaded.model.to(self.device)
        self.tokenizer: PreTrainedTokenizerBase = loaded.tokenizer
        self.manifest: Manifest = loaded.manifest
        self.path = loaded.path
        self.quantized = quantized
        self.thresholds = np.array(
            [self.manifest.thresholds[k] for k in self.manifest.keys], dtype=np.float32
        )

    @classmethod
    def load(cls, path: Path, *, quantize: bool = False, device: str = "cpu") -> Stage1Predictor:
        """Load an artefact directory; ModelLoadError if it is missing or corrupt.
        `quantize` (int8) is CPU-only; `device` may name a GPU ("cuda") otherwise."""
        if quantize and device != "cpu":
            raise ValueError("int8 dynamic quantization runs on the CPU only")
        predictor = cls(load_artifact(Path(path)), quantized=quantize, device=device)
        if quantize:
            predictor.model = quantize_int8(predictor.model)
        return predictor

    @property
    def keys(self) -> list[str]:
        return list(self.manifest.keys)

    @property
    def max_len(self) -> int:
        return self.manifest.max_len

    def predict(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[KeyPrediction]:
        """Predict every text; `progress(done, total)` is called after each batch and may
        raise to stop (results computed so far are then discarded)."""
        if self.windowed:
            windows = self._windows(texts)
            probs = self._window_probs(windows, batch_size=batch_size, progress=progress)
            return [self._window_result(windows[i], probs[i]) for i in range(len(texts))]
        encoded = encode_texts(self.tokenizer, texts, max_len=self.max_len)
        probs = self._probs(encoded, batch_size=batch_size, progress=progress)
        return [self._result(encoded, probs, i) for i in range(len(texts))]

    def predict_one(self, text: str) -> KeyPrediction:
        """Synchronous single-report prediction (review page, API)."""
        return self.predict([text], batch_size=1)[0]

    def predict_probs(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Probabilities only, (n, n_keys) in `keys` order; for evaluation and benchmarks."""
        if self.windowed:
            return self._window_probs(self._windows(texts), batch_size=batch_size, progress=None)
        encoded = encode_texts(self.tokenizer, texts, max_len=self.max_len)
        return self._probs(encoded, batch_size=batch_size, progress=None)

    @property
    def windowed(self) -> bool:
        """Whether this model reads whole reports as windows (the recipe's models)."""
        return self.manifest.reading.get("mode") == "windows"

    def _windows(self, texts: Sequence[str]) -> list[list[Window]]:
        reading = self.manifest.reading
        return report_windows(
            self.tokenizer,
            texts,
            window_tokens=int(reading.get("window_tokens", self.max_len)),
            overlap_tokens=int(reading.get("overlap_tokens", 0)),
        )

    @torch.inference_mode()
    def _window_probs(
        self,
        windows: list[list[Window]],
        *,
        batch_size: int,
        progress: Callable[[int, int], None] | None,
    ) -> np.ndarray:
        """Per report, the max over its windows of each key's probability (0.0 for a
        report with no window: nothing to read)."""
        out = np.zeros((len(windows), len(self.manifest.keys)), dtype=np.float32)
        flat = [(r, w) for r, per in enumerate(windows) for w in per]
        self.model.eval()
        pad = pad_id(self.tokenizer)
        batch_windows = batch_size * 4  # ~4 windows per report: the same work per batch
        for done, batch in enumerate(length_batches([len(w.ids) for _, w in flat], batch_windows), 1):
            input_ids, attention = collate([flat[i][1].ids for i in batch], pad, self.device)
            probs = torch.sigmoid(self.model(input_ids, attention)).float().cpu().numpy()
            owners = np.array([flat[i][0] for i in batch])
            np.maximum.at(out, owners, probs)
            if progress is not None:
                progress(min(done * batch_size, len(windows)), len(windows))
        return out

    def _window_result(self, windows: list[Window], row: np.ndarray) -> KeyPrediction:
        notes = () if windows else (EMPTY_WARNING,)
        return KeyPrediction(
            probs={k: float(p) for k, p in zip(self.manifest.keys, row, strict=True)},
            labels={k: bool(on) for k, on in zip(self.manifest.keys, row >= self.thresholds, strict=True)},
            truncated=False,
            n_tokens=sum(len(w.ids) - 2 for w in windows),
            warnings=notes,
        )

    @torch.inference_mode()
    def _probs(
        self, encoded: EncodedTexts, *, batch_size: int, progress: Callable[[int, int], None] | None
    ) -> np.ndarray:
        out = np.zeros((len(encoded.ids), len(self.manifest.keys)), dtype=np.float32)
        todo = [i for i, empty in enumerate(encoded.empty) if not empty]
        self.model.eval()
        pad, done = pad_id(self.tokenizer), 0
        for batch in length_batches([len(encoded.ids[i]) for i in todo], batch_size):
            rows = [todo[i] for i in batch]
            input_ids, attention = collate([encoded.ids[r] for r in rows], pad, self.device)
            out[rows] = torch.sigmoid(self.model(input_ids, attention)).float().cpu().numpy()
            done += len(rows)
            if progress is not None:
                progress(done, len(todo))
        return out

    def _result(self, encoded: EncodedTexts, probs: np.ndarray, i: int) -> KeyPrediction:
        notes: list[str] = []
        if encoded.empty[i]:
            notes.append(EMPTY_WARNING)
        if encoded.truncated[i]:
            notes.append(
                f"report truncated to its first {self.max_len} tokens (model max_len); the rest was not read"
            )
            logger.warning("stage 1 (%s): %s", self.path, notes[-1])
        row = probs[i]
        return KeyPrediction(
            probs={k: float(p) for k, p in zip(self.manifest.keys, row, strict=True)},
            labels={k: bool(on) for k, on in zip(self.manifest.keys, row >= self.thresholds, strict=True)},
            truncated=encoded.truncated[i],
            n_tokens=0 if encoded.empty[i] else len(encoded.ids[i]),
            warnings=tuple(notes),
        )


def quantize_int8(model: nn.Module) -> nn.Module:
    """int8 dynamic quantization of every nn.Linear (weights int8, activations quantized
    on the fly); CPU only. torch marks the API deprecated, it still works in 2.13."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantized: nn.Module = torch.ao.quantization.quantize_dynamic(
            model.eval(), {nn.Linear}, dtype=torch.qint8
        )
    return quantized
