"""Stage 1 trained with the product's recipe on real chest CT reports, measured on
the held-out 100 (the same split as bench/quality_bench.py).

    python bench/stage1_real_bench.py [--quick] [--data PATH] [--gold N] [--threads 2] [--retrain]

The 683 non-held-out development reports are the site's corpus: all of them go into
masked-LM pretraining; --gold of them (default 200, the first of the split's training
order) count as gold with CT-RATE's labels, the rest get the rule engine's report-level
verdicts as weak labels; the engine's mentions give every window its targets
(inference/ml/bert/recipe.py). The recipe's default cross-fits 5 members on folds of the
gold reports and calibrates the thresholds on every gold report's out-of-fold probability
(`--set members=1`: one model and a gold-only validation split).

Prints:
  stage1_real_macro_f1 / _int8          macro F1 over the 8 keys on the 100 held-out reports
  stage1_real_f1_<key>                  per-key F1 (fp32)
  stage1_real_train_seconds             the training run (cached runs print the cached time)
  stage1_real_reports_per_second[_fp32] int8 (and fp32) inference on those reports, batch 32
  stage1_real_mean_tokens               their mean token count
  weak_vs_gold_macro_f1                 the weak labeller against CT-RATE on the 683 (label check)
  stage1_real_train_gold_macro_f1       the model on its own gold training reports (pipeline check)
  combined_with[out]_stage1_*           the combined mode's 8-key figures with and without stage 1
The trained artefact is cached under var/bench/stage1_real/<hash of data + config>, so
a second run only measures (--retrain ignores the cache). --quick trains the same
recipe with fewer epochs and one member (and says so). Without the data file the bench skips cleanly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from quality_bench import DATA, KEYS, SEED, chest_lexicon, line, load_rows, scores, split  # noqa: E402

CACHE = ROOT / "var" / "bench" / "stage1_real"
RECIPE_FILES = (
    "recipe.py",
    "config.py",
    "counterfactuals.py",
    "crossfit.py",
    "windows.py",
    "model.py",
    "pretrain.py",
    "data.py",
    "train.py",
    "finetune.py",
    "artifacts.py",
)


def recipe_config(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from inference.ml.bert.recipe import RecipeConfig

    config = RecipeConfig(threads=args.threads, seed=SEED)
    if args.set:
        overrides = {}
        for item in args.set:
            name, _, value = item.partition("=")
            current = getattr(config, name)
            overrides[name] = type(current)(value) if not isinstance(current, bool) else value == "true"
        config = replace(config, **overrides)
    if args.quick:  # one member for 2 epochs: 1 epoch of each of 5 members read F1 0.18 in 140 s
        config = replace(
            config, members=1, epochs=min(config.epochs, 2), mlm_epochs=min(config.mlm_epochs, 1)
        )
    return config


def cache_dir(data: Path, config: Any, n_gold: int) -> Path:
    digest = hashlib.sha256(data.read_bytes())
    digest.update(json.dumps({"config": config.to_dict(), "gold": n_gold}, sort_keys=True).encode())
    for name in RECIPE_FILES:
        digest.update((ROOT / "inference" / "ml" / "bert" / name).read_bytes())
    return CACHE / digest.hexdigest()[:16]


def corpus(train: list[dict[str, Any]], n_gold: int, engine: Any) -> list[Any]:
    from inference.ml.bert.recipe import GOLD, WEAK, RecipeReport

    out = []
    for i, row in enumerate(train):
        if i < n_gold:
            out.append(RecipeReport(row["id"], row["text"], GOLD, frozenset(row["present_keys"]) & set(KEYS)))
            continue
        result = engine.extract(row["text"])
        present = frozenset(f.key for f in result.findings if f.present and f.key in KEYS)
        hedged = frozenset(f.key for f in result.findings if f.status == "uncertain" and f.key in KEYS)
        out.append(RecipeReport(row["id"], row["text"], WEAK, present, hedged))
    return out


def train(args: argparse.Namespace, train_rows: list[dict[str, Any]], engine: Any) -> tuple[Path, float]:
    from inference.ml.bert.counterfactuals import engine_counterfactuals
    from inference.ml.bert.recipe import engine_labeller, train_recipe

    config = recipe_config(args)
    where = cache_dir(args.data, config, args.gold)
    model_dir = where / "model"
    record = where / "bench.json"
    if record.exists() and model_dir.exists() and not args.retrain:
        seconds = json.loads(record.read_text())["train_seconds"]
        line("stage1_real_cached", str(where.relative_to(ROOT)))
        return model_dir, float(seconds)
    if args.retrain and where.exists():
        shutil.rmtree(where)
    if args.quick:
        line(
            "stage1_real_quick",
            f"the real recipe with {config.epochs} epochs, {config.mlm_epochs} MLM epoch(s) "
            f"and one member (the full run: {type(config)().members})",
        )
    line("stage1_real_config", json.dumps(config.to_dict(), sort_keys=True))
    reports = corpus(train_rows, args.gold, engine)
    line("stage1_real_gold_reports", sum(r.source == "gold" for r in reports))
    line("stage1_real_weak_reports", sum(r.source == "weak" for r in reports))
    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"# {time.perf_counter() - started:7.1f}s {text}", file=sys.stderr, flush=True)

    def progress(event: Any) -> None:
        if event.phase != "validate" and (event.step % 50 == 0 or event.step == event.total_steps):
            say(f"{event.phase} step {event.step}/{event.total_steps} loss {event.loss:.4f}")

    train_recipe(
        reports,
        keys=list(KEYS),
        out_dir=model_dir,
        work_dir=where / "work",
        labeller=engine_labeller(engine),
        counterfactuals=engine_counterfactuals(engine, texts=[r.text for r in reports]),
        config=config,
        progress=progress,
        log=say,
    )
    seconds = time.perf_counter() - started
    record.write_text(json.dumps({"train_seconds": seconds, "config": config.to_dict()}))
    return model_dir, seconds


def throughput(predictor: Any, texts: list[str]) -> float:
    predictor.predict_probs(texts[:32], batch_size=32)
    started = time.perf_counter()
    predictor.predict_probs(texts, batch_size=32)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the real recipe with fewer epochs")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--gold", type=int, default=200, help="training reports that count as gold")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--set", action="append", help="override a RecipeConfig field: name=value")
    args = parser.parse_args()
    rows = load_rows(args.data)
    if rows is None:
        line("stage1_real_skipped", f"{args.data} not found (development data is not part of the project)")
        return
    import numpy as np
    import torch

    from inference.ml.bert import Stage1Predictor
    from inference.ml.combined import CombinedExtractor, stage1_key_quality
    from inference.ml.engine import RuleEngine
    from inference.ml.metrics import entity_key_metrics, key_sets
    from inference.ml.text.lexicon import lexicon_values
    from inference.ml.text.matcher import Matcher

    torch.set_num_threads(args.threads)
    train_rows, test = split(rows, 100, SEED)
    lexicon = chest_lexicon()
    engine = RuleEngine.for_chest_ct(lexicon)
    gold_train = [set(r["present_keys"]) & set(KEYS) for r in train_rows]
    weak_train = [engine.extract(r["text"]).present_keys() & set(KEYS) for r in train_rows]
    line("weak_vs_gold_macro_f1", entity_key_metrics(gold_train, weak_train, list(KEYS)).macro.f1 or 0.0)

    model_dir, seconds = train(args, train_rows, engine)
    line("stage1_real_train_seconds", seconds)
    line("stage1_real_members", Stage1Predictor.load(model_dir).manifest.members)
    texts = [r["text"] for r in test]
    gold = [set(r["present_keys"]) & set(KEYS) for r in test]
    keyword = Matcher(lexicon_values(lexicon, keys=KEYS))
    mentioned = [{str(k) for k in keyword.keys_in(t)} for t in texts]
    fp32 = Stage1Predictor.load(model_dir)
    int8 = Stage1Predictor.load(model_dir, quantize=True)
    thresholds = fp32.thresholds
    probs = fp32.predict_probs(texts)
    pred = key_sets(probs >= thresholds, list(KEYS))
    metrics = entity_key_metrics(gold, pred, list(KEYS))
    line("stage1_real_macro_f1", metrics.macro.f1 or 0.0)
    pred8 = key_sets(int8.predict_probs(texts) >= thresholds, list(KEYS))
    line("stage1_real_macro_f1_int8", entity_key_metrics(gold, pred8, list(KEYS)).macro.f1 or 0.0)
    for key in KEYS:
        line(f"stage1_real_f1_{key.replace(' ', '_')}", metrics.per_key[key].f1 or 0.0)
    line(
        "stage1_real_thresholds",
        json.dumps({k: round(float(t), 2) for k, t in zip(KEYS, thresholds, strict=True)}),
    )
    gold_rows = train_rows[: args.gold]
    train_probs = fp32.predict_probs([r["text"] for r in gold_rows])
    line(
        "stage1_real_train_gold_macro_f1",
        entity_key_metrics(
            [set(r["present_keys"]) & set(KEYS) for r in gold_rows],
            key_sets(train_probs >= thresholds, list(KEYS)),
            list(KEYS),
        ).macro.f1
        or 0.0,
    )
    n_tokens = [p.n_tokens for p in fp32.predict(texts)]
    line("stage1_real_mean_tokens", float(np.mean(n_tokens)))
    line("stage1_real_reports_per_second", throughput(int8, texts * 3))
    line("stage1_real_reports_per_second_fp32", throughput(fp32, texts * 3))

    quality = stage1_key_quality(int8.manifest.metrics)
    predictions = int8.predict(texts)
    with_s1 = CombinedExtractor(engine, stage1_key_f1=quality)
    without = CombinedExtractor(engine)
    line("stage1_trusted_keys", ",".join(k for k in KEYS if with_s1.trusts_stage1(k)) or "none")
    line("stage1_may_add_keys", ",".join(k for k in KEYS if with_s1.stage1_may_add(k)) or "none")
    combined = [
        with_s1.extract(t, stage1=p).present_keys() & set(KEYS)
        for t, p in zip(texts, predictions, strict=True)
    ]
    plain = [without.extract(t).present_keys() & set(KEYS) for t in texts]
    for name, value in scores(gold, combined, mentioned).items():
        line(f"combined_with_stage1_{name}", value)
    for name, value in scores(gold, plain, mentioned).items():
        line(f"combined_without_stage1_{name}", value)
    flagged = sum(
        "rules_stage1_disagree" in f.flags
        for t, p in zip(texts, predictions, strict=True)
        for f in with_s1.extract(t, stage1=p).findings
    )
    line("combined_stage1_disagreements_flagged", flagged)


if __name__ == "__main__":
    main()
