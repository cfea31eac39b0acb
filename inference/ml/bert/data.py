"""Turning report texts into model batches: encoding, splits, length buckets, MLM masking.

Every text goes through `preprocess.normalize` before the tokenizer, in training and
inference alike, so both see the same input. Sequences are `[CLS] body [SEP]`, cut to
`max_len` tokens; batches are padded only to their own longest member, and length
bucketing keeps that close to every member's length (padding to 256 costs ~5x on CPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from inference.ml.preprocess import normalize

# A token rarely spans more than a few characters; cutting the text at this many
# characters per allowed token bounds tokenizer work on a pathological 10 MB report
# without ever cutting text the model would have read.
CHARS_PER_TOKEN_CAP = 16
# Training shuffles within windows of this many batches so batches stay length-homogeneous
# while the order of examples still changes from epoch to epoch.
BUCKET_WINDOW_BATCHES = 50


@dataclass(frozen=True, slots=True)
class EncodedTexts:
    """Token ids per text (`[CLS] ... [SEP]`, at most max_len) and whether each was cut."""

    ids: list[list[int]]
    truncated: list[bool]
    empty: list[bool]


def encode_texts(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], *, max_len: int) -> EncodedTexts:
    """Normalize and tokenize `texts`; bodies longer than max_len - 2 are cut."""
    normalized = [normalize(text).text for text in texts]
    char_cap = max_len * CHARS_PER_TOKEN_CAP
    capped = [text[:char_cap] for text in normalized]
    bodies: list[list[int]] = tokenizer(capped, add_special_tokens=False)["input_ids"] if capped else []
    room = max_len - 2
    cls_id, sep_id = _special_id(tokenizer, "cls"), _special_id(tokenizer, "sep")
    ids = [[cls_id, *body[:room], sep_id] for body in bodies]
    truncated = [
        len(body) > room or len(text) > char_cap for body, text in zip(bodies, normalized, strict=True)
    ]
    return EncodedTexts(ids=ids, truncated=truncated, empty=[not text for text in normalized])


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded random split of range(n) into (train, validation); validation gets at
    least one item when val_fraction > 0 and n >= 2."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    return sorted(order[n_val:]), sorted(order[:n_val])


def length_batches(lengths: Sequence[int], batch_size: int, *, seed: int | None = None) -> list[list[int]]:
    """Group indexes into batches of similar length.

    seed=None (inference): sorted by length, deterministic. With a seed (training):
    shuffled, sorted within windows of BUCKET_WINDOW_BATCHES batches, batch order shuffled.
    """
    if seed is None:
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths)).tolist()
    window = batch_size * BUCKET_WINDOW_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def collate(
    ids: Sequence[Sequence[int]], pad_id: int, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence: (input_ids, attention_mask), both (B, T) int64,
    built on the CPU and moved to `device` when given."""
    width = max(len(seq) for seq in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attention_mask[row, : len(seq)] = 1
    if device is not None and device.type != "cpu":
        return input_ids.to(device, non_blocking=True), attention_mask.to(device, non_blocking=True)
    return input_ids, attention_mask


def mask_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    tokenizer: PreTrainedTokenizerBase,
    probability: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's MLM corruption: pick `probability` of the real (non-special) tokens; of
    those 80% become [MASK], 10% a random token, 10% stay. Returns (inputs, labels) with
    labels -100 everywhere except the picked positions."""
    special = torch.tensor(tokenizer.all_special_ids, dtype=torch.long)
    candidates = attention_mask.bool() & ~torch.isin(input_ids, special)  # (B, T)
    picked = candidates & (torch.rand(input_ids.shape, generator=generator) < probability)
    if not picked.any() and candidates.any():
        # A batch with nothing to predict would give a NaN loss: predict one token.
        picked.view(-1)[int(candidates.view(-1).nonzero()[0])] = True
    labels = torch.where(picked, input_ids, torch.full_like(input_ids, -100))
    draw = torch.rand(input_ids.shape, generator=generator)
    inputs = input_ids.clone()
    inputs[picked & (draw < 0.8)] = _special_id(tokenizer, "mask")
    swap = picked & (draw >= 0.8) & (draw < 0.9)
    inputs[swap] = torch.randint(len(tokenizer), (int(swap.sum()),), generator=generator)
    return inputs, labels


def label_matrix(key_sets: Sequence[set[str]], keys: Sequence[str]) -> np.ndarray:
    """0/1 float32 matrix (n, n_keys) from one set of present keys per text."""
    index = {key: i for i, key in enumerate(keys)}
    matrix = np.zeros((len(key_sets), len(keys)), dtype=np.float32)
    for row, present in enumerate(key_sets):
        for key in present & index.keys():
            matrix[row, index[key]] = 1.0
    return matrix


def _special_id(tokenizer: PreTrainedTokenizerBase, name: str) -> int:
    """The id of [CLS]/[SEP]/[MASK]/[PAD]; checkpoints without one cannot be used."""
    value = getattr(tokenizer, f"{name}_token_id", None)
    if value is None:
        raise ValueError(f"tokenizer has no {name} token; stage 1 needs [CLS], [SEP], [PAD] and [MASK]")
    return int(value)


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    return _special_id(tokenizer, "pad")
