"""The stage-1 network: a BERT encoder, token-wise attention pooling, a dense layer.

    encoder = build_encoder(preset, vocab_size=len(tok), pad_id=tok.pad_token_id)
    model = EntityKeyClassifier(encoder, n_keys=11)
    logits = model(input_ids, attention_mask)  # (B, K); sigmoid -> per-key probability

The encoder is any Hugging Face encoder whose output has `last_hidden_state`: a BertModel
built from a preset, or a local checkpoint directory (a site's clinical BERT, or our own
MLM-pretrained one) loaded with `local_files_only=True`, never from the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    BertConfig,
    BertForMaskedLM,
    BertModel,
    PreTrainedModel,
)
from transformers.utils import logging as hf_logging

from .config import BertPreset


class AttentionPooling(nn.Module):
    """A learned score per token, softmax over the real (non-pad) tokens, weighted sum.
    Lets one key attend to "nodule" anywhere in a long report, where [CLS] pooling
    would have to squeeze every key into one position."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.score = nn.Linear(hidden_size, 1)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(hidden).squeeze(-1)  # (B, T)
        # finfo.min rather than -inf: a row is never all padding ([CLS] is always there),
        # but -inf would turn a mistake into NaNs instead of a visible wrong answer.
        scores = scores.masked_fill(attention_mask == 0, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)  # (B, T)
        return torch.einsum("bt,bth->bh", weights, hidden)  # (B, H)


class EntityKeyClassifier(nn.Module):
    """Encoder -> attention pooling -> dropout -> dense to one logit per entity key."""

    def __init__(self, encoder: PreTrainedModel, n_keys: int, dropout: float = 0.1) -> None:
        super().__init__()
        hidden = int(encoder.config.hidden_size)
        self.encoder = encoder
        self.pool = AttentionPooling(hidden)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_keys)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state  # (B, T, H)
        pooled = self.pool(hidden, attention_mask)  # (B, H)
        logits: torch.Tensor = self.head(self.dropout(pooled))  # (B, K)
        return logits

    @property
    def max_len(self) -> int:
        return int(self.encoder.config.max_position_embeddings)


class EnsembleClassifier(nn.Module):
    """Members of one architecture and tokenizer, each fine-tuned on other training
    reports (recipe.py, cross-fitted members); its logits are those of the members' mean
    probability, so sigmoid and thresholds apply as to one classifier."""

    def __init__(self, members: list[EntityKeyClassifier]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.sigmoid(m(input_ids, attention_mask)) for m in self.members]).mean(0)
        eps = torch.finfo(probs.dtype).eps
        return torch.logit(probs.clamp(eps, 1 - eps))

    @property
    def first(self) -> EntityKeyClassifier:
        return self.members[0]  # type: ignore[return-value]

    @property
    def encoder(self) -> PreTrainedModel:
        return self.first.encoder

    @property
    def max_len(self) -> int:
        return self.first.max_len


def bert_config(preset: BertPreset, *, vocab_size: int, pad_id: int) -> BertConfig:
    """A BertConfig for `preset`, sized to the real tokenizer vocabulary."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=preset.hidden_size,
        num_hidden_layers=preset.num_layers,
        num_attention_heads=preset.num_heads,
        intermediate_size=preset.intermediate_size,
        max_position_embeddings=preset.max_len,
        hidden_dropout_prob=preset.dropout,
        attention_probs_dropout_prob=preset.dropout,
        pad_token_id=pad_id,
        type_vocab_size=1,  # no sentence pairs: the method drops next-sentence prediction
    )


def build_encoder(preset: BertPreset, *, vocab_size: int, pad_id: int) -> PreTrainedModel:
    """A freshly initialised BertModel (no pooler: attention pooling replaces it)."""
    return BertModel(bert_config(preset, vocab_size=vocab_size, pad_id=pad_id), add_pooling_layer=False)


def build_mlm(preset: BertPreset, *, vocab_size: int, pad_id: int) -> PreTrainedModel:
    """A freshly initialised BERT with its masked-LM head, for pretraining from scratch."""
    return BertForMaskedLM(bert_config(preset, vocab_size=vocab_size, pad_id=pad_id))


def load_encoder(path: Path) -> PreTrainedModel:
    """The encoder of a local checkpoint directory; an MLM checkpoint's head is dropped."""
    with quiet_transformers():
        return _without_pooler(AutoModel.from_pretrained(str(path), local_files_only=True))


def load_mlm(path: Path) -> PreTrainedModel:
    """A local checkpoint with a masked-LM head (initialised fresh if the checkpoint has none)."""
    with quiet_transformers():
        model: PreTrainedModel = AutoModelForMaskedLM.from_pretrained(str(path), local_files_only=True)
    return model


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' per-weight load reports and progress bars for the duration:
    the unused MLM head and missing pooler they list are expected here, and worker logs
    should show our progress events, not tqdm bars."""
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def encoder_from_config(config_dir: Path) -> PreTrainedModel:
    """An untrained encoder with the architecture saved in `config_dir/config.json`, to
    receive saved weights; mirrors `build_encoder`/`load_encoder` (no pooler)."""
    hf_config = AutoConfig.from_pretrained(str(config_dir), local_files_only=True)
    return _without_pooler(AutoModel.from_config(hf_config))


def _without_pooler(encoder: PreTrainedModel) -> PreTrainedModel:
    # BERT-family models skip their pooler when it is None; dropping it keeps saved
    # state dicts identical whether the encoder came from a preset or a checkpoint.
    if getattr(encoder, "pooler", None) is not None:
        # torch types Module.__setattr__ as tensors and modules only; at run time None
        # unregisters the submodule, which is what BERT checks.
        encoder.pooler = None  # type: ignore[assignment]
    return encoder
