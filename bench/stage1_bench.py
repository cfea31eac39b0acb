"""Stage 1 on this CPU: train the small preset on demo chest CT reports, then measure.

    python bench/stage1_bench.py [--quick] [--threads 2] [--no-pretrain] [--keep DIR]
    python bench/stage1_bench.py --model DIR   # time a trained artefact (e.g. the recipe's), no training

Data: the demo corpus (chest CT only); a key is positive when its gold status is
"present" (negated and hedged mentions are negatives, as stage 1 must learn). Reports
are split into labelled training reports, unlabelled reports for masked-LM
pretraining, and held-out reports that nothing was trained or tuned on.

Prints one `name: value` line per figure:
  pretrain_examples_per_second   MLM training throughput (skipped with --no-pretrain)
  train_examples_per_second      fine-tuning throughput (examples per second, all epochs)
  inference_mean_tokens          mean length of the timed reports (target: ~100 tokens)
  inference_reports_per_second   fp32, batch 32, length-bucketed, tokenization included
  inference_reports_per_second_int8   the same with int8 dynamic quantization
  heldout_macro_f1 / heldout_macro_f1_int8 / heldout_report_f1   on the held-out reports
  peak_rss_mb                    peak resident memory of this process
  host_load_1m_at_start          the machine's load average: above ~0.5, other work shares the cores
No Django: the ML library is plain Python.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from demo.generator.corpus import generate_reports  # noqa: E402
from inference.ml.bert import (  # noqa: E402
    LabelledSet,
    Stage1Predictor,
    TrainConfig,
    finetune,
    get_preset,
    pretrain_mlm,
)
from inference.ml.bert.data import encode_texts  # noqa: E402
from inference.ml.defaults import default_keys  # noqa: E402
from inference.ml.metrics import entity_key_metrics, key_sets  # noqa: E402

LESION_KEYS = list(default_keys("chest_ct", "Lesion"))
TARGET_TOKENS = (85, 115)  # the timed set: reports of about 100 tokens, as the issue asks


@dataclass(frozen=True)
class Sizes:
    train: int
    unlabelled: int
    heldout: int
    timed: int
    mlm_epochs: int
    epochs: int


# Full: the method's recipe at demo scale (MLM on labelled + unlabelled text, then fine-tuning).
# Quick: fine-tuning from scratch only, to finish in about 2 minutes; its F1 is a smoke figure.
FULL = Sizes(train=1500, unlabelled=1500, heldout=300, timed=1024, mlm_epochs=3, epochs=10)
QUICK = Sizes(train=600, unlabelled=0, heldout=300, timed=320, mlm_epochs=0, epochs=6)


def load_split(sizes: Sizes, seed: int) -> dict[str, list[dict[str, Any]]]:
    n = sizes.train + sizes.unlabelled + sizes.heldout
    records = list(generate_reports(n=n, seed=seed, modalities=["chest_ct"]))
    return {
        "train": records[: sizes.train],
        "unlabelled": records[sizes.train : sizes.train + sizes.unlabelled],
        "heldout": records[sizes.train + sizes.unlabelled :],
    }


def present_keys(record: dict[str, Any]) -> set[str]:
    return {key for key, value in record["gold"]["lesions"].items() if value["status"] == "present"}


def labelled(records: list[dict[str, Any]]) -> LabelledSet:
    labels = np.array([[key in present_keys(r) for key in LESION_KEYS] for r in records], dtype=np.float32)
    return LabelledSet(
        [r["text"] for r in records], labels, sources=["gold"] * len(records), ids=[r["id"] for r in records]
    )


def train(
    split: dict[str, list[dict[str, Any]]], sizes: Sizes, work: Path, *, pretrain: bool
) -> dict[str, Any]:
    preset = get_preset("small")
    out: dict[str, Any] = {}
    encoder_dir = None
    if pretrain:
        texts = [r["text"] for r in split["train"] + split["unlabelled"]]
        config = TrainConfig(epochs=sizes.mlm_epochs, batch_size=32, learning_rate=1e-3, patience=1)
        mlm = pretrain_mlm(texts, preset=preset, out_dir=work / "mlm", config=config)
        out["pretrain_examples_per_second"] = mlm.examples_per_second
        encoder_dir = mlm.out_dir
    config = TrainConfig(
        epochs=sizes.epochs, batch_size=32, learning_rate=5e-4, head_learning_rate=3e-3, patience=3
    )
    result = finetune(
        labelled(split["train"]),
        keys=LESION_KEYS,
        preset=preset,
        encoder_dir=encoder_dir,
        out_dir=work / "stage1",
        config=config,
    )
    out["train_examples_per_second"] = result.examples_per_second
    out["model_dir"] = result.out_dir
    return out


def heldout_scores(predictor: Stage1Predictor, records: list[dict[str, Any]]) -> tuple[float, float]:
    probs = predictor.predict_probs([r["text"] for r in records])
    pred = key_sets(probs >= predictor.thresholds, LESION_KEYS)
    scores = entity_key_metrics([present_keys(r) for r in records], pred, LESION_KEYS)
    return scores.macro.f1 or 0.0, scores.report.f1 or 0.0


def timed_texts(predictor: Stage1Predictor, n: int, seed: int) -> list[str]:
    """n fresh demo reports whose token length lies in TARGET_TOKENS."""
    pool = [r["text"] for r in generate_reports(n=n * 6, seed=seed, modalities=["chest_ct"])]
    lengths = [len(ids) for ids in encode_texts(predictor.tokenizer, pool, max_len=predictor.max_len).ids]
    chosen = [
        t for t, length in zip(pool, lengths, strict=True) if TARGET_TOKENS[0] <= length <= TARGET_TOKENS[1]
    ]
    if len(chosen) < n:
        raise SystemExit(f"only {len(chosen)} demo reports of {TARGET_TOKENS} tokens; raise the pool size")
    return chosen[:n]


def throughput(predictor: Stage1Predictor, texts: list[str]) -> float:
    predictor.predict_probs(texts[:64], batch_size=32)  # warm-up: allocator, kernels
    started = time.perf_counter()
    predictor.predict_probs(texts, batch_size=32)
    return len(texts) / (time.perf_counter() - started)


def measure(sizes: Sizes, work: Path, *, pretrain: bool) -> dict[str, float]:
    split = load_split(sizes, seed=21)
    load_before = os.getloadavg()[0]  # other processes on the machine skew every figure
    trained = train(split, sizes, work, pretrain=pretrain)
    fp32 = Stage1Predictor.load(trained["model_dir"])
    int8 = Stage1Predictor.load(trained["model_dir"], quantize=True)
    texts = timed_texts(fp32, sizes.timed, seed=99)
    lengths = [len(ids) for ids in encode_texts(fp32.tokenizer, texts, max_len=fp32.max_len).ids]
    macro_f1, report_f1 = heldout_scores(fp32, split["heldout"])
    return {
        **{k: v for k, v in trained.items() if k.endswith("_per_second")},
        "inference_mean_tokens": float(np.mean(lengths)),
        "inference_reports_per_second": throughput(fp32, texts),
        "inference_reports_per_second_int8": throughput(int8, texts),
        "heldout_macro_f1": macro_f1,
        "heldout_macro_f1_int8": heldout_scores(int8, split["heldout"])[0],
        "heldout_report_f1": report_f1,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "host_load_1m_at_start": load_before,
    }


def measure_model(model_dir: Path, n: int) -> dict[str, float]:
    """Inference figures of an existing artefact (any reading mode) on ~100-token reports."""
    load_before = os.getloadavg()[0]
    fp32 = Stage1Predictor.load(model_dir)
    int8 = Stage1Predictor.load(model_dir, quantize=True)
    texts = timed_texts(fp32, n, seed=99)
    lengths = [len(ids) for ids in encode_texts(fp32.tokenizer, texts, max_len=fp32.max_len).ids]
    return {
        "inference_mean_tokens": float(np.mean(lengths)),
        "inference_reports_per_second": throughput(fp32, texts),
        "inference_reports_per_second_int8": throughput(int8, texts),
        "host_load_1m_at_start": load_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer reports and epochs; about 2 minutes")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--no-pretrain", action="store_true", help="fine-tune from scratch, skip masked-LM")
    parser.add_argument("--keep", type=Path, default=None, help="write the models here instead of a temp dir")
    parser.add_argument("--model", type=Path, default=None, help="only time this trained artefact")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    torch.set_num_threads(args.threads)
    if args.model is not None:
        for name, value in measure_model(args.model, sizes.timed).items():
            print(f"{name}: {value:.2f}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        figures = measure(
            sizes, args.keep or Path(tmp), pretrain=not args.no_pretrain and sizes.mlm_epochs > 0
        )
    for name, value in figures.items():
        print(f"{name}: {value:.4f}" if "f1" in name else f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
