"""Stage 2 (LLM relationship mapping) speed on this CPU: prefix cache and constrained decoding.

    python bench/stage2_bench.py [--quick] [--model PATH.gguf] [--preset NAME] [--threads N]

Runs the chest CT prompt (two-shot, stage 1 hint) over short hand-written reports:
every report once with the prefix cache emptied before it (uncached), once with
the instructions and examples already evaluated by the previous call (cached),
and once cached without the JSON-schema grammar. Prints `name: value` lines.
The hint is the gold lesion list including negated lesions (an oracle stage 1),
so `hint_leak_rate` measures how often a negated candidate comes back present.

Model: --model, else the 1.5B default when assembled in MODEL_STORAGE_DIR/llm
(or var/models/llm), else the 0.5B preset (assembled from its installed packages
if needed). --quick: the 0.5B preset and 3 reports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference.ml.defaults import default_lexicon  # noqa: E402
from inference.ml.llm import gguf  # noqa: E402
from inference.ml.llm.backends import LlamaCppBackend  # noqa: E402
from inference.ml.llm.mapping import FLAG_HINT_LEAK, ChestCtMapper, MappingResult  # noqa: E402
from inference.ml.llm.schemas import ChestKeys  # noqa: E402
from inference.ml.relation_metrics import chest_pairs, relation_metrics  # noqa: E402
from inference.ml.text.lexicon import Lexicon  # noqa: E402

P, N = "present", "negated"
# (report, gold lesions: key -> (status, locations)); the locations of pleural
# lesions are implicit and not scored.
REPORTS: list[tuple[str, dict[str, tuple[str, list[str]]]]] = [
    (
        "Chest CT (enhanced)\nClinical information: 발열, 기침.\n\nFindings:\n"
        "Consolidation with air-bronchogram in the RLL and LLL posterior basal segments.\n"
        "Small amount of bilateral pleural effusion.\nNo suspicious nodule.\n"
        "Mediastinal LN: not enlarged.\n\n"
        "Impression:\nBilateral lower lobe pneumonia with small pleural effusion.",
        {
            "consolidation": (P, ["right lower lobe", "left lower lobe"]),
            "pleural effusion": (P, []),
            "nodule": (N, []),
        },
    ),
    (
        "Low-dose chest CT for lung cancer screening.\n\nFindings:\n"
        "5 mm part-solid nodule in RUL anterior segment (Se 3, Im 45), newly appeared.\n"
        "Biapical pleural thickening.\nMild paraseptal emphysema.\nNo bronchiectasis.\n\n"
        "Impression:\n1. 5 mm part-solid nodule in RUL. 3개월 후 F/U CT 권함.\n"
        "2. No other active lung lesion.",
        {"nodule": (P, ["right upper lobe"]), "pleural thickening": (P, []), "bronchiectasis": (N, [])},
    ),
    (
        "CT chest\nHistory: s/p Lt. upper lobectomy for adenocarcinoma (2019).\nComparison: 2022-05-17.\n\n"
        "Findings:\nPostoperative fibrotic change along the Lt. upper lobe resection margin, stable.\n"
        "Subsegmental atelectasis in the lingula.\nNo new nodule or mass.\n좌측 흉수 없음.\n\n"
        "Impression:\nNo evidence of recurrence.",
        {
            "fibrosis": (P, ["left upper lobe"]),
            "atelectasis": (P, ["lingula"]),
            "nodule": (N, []),
            "mass": (N, []),
            "pleural effusion": (N, []),
        },
    ),
    (
        "Chest CT, HRCT protocol\nClinical information: ILD F/U.\n\nFindings:\n"
        "Subpleural reticulation with traction bronchiectasis in both lower lobes, slightly aggravated.\n"
        "Honeycombing in RLL.\nPatchy GGO in both lungs.\nNo pleural effusion.\n\n"
        "Impression:\nUIP pattern fibrosis, slightly progressed.",
        {
            "interstitial thickening": (P, ["right lower lobe", "left lower lobe"]),
            "bronchiectasis": (P, ["right lower lobe", "left lower lobe"]),
            "fibrosis": (P, ["right lower lobe"]),
            "ground-glass opacity": (P, ["both lungs"]),
            "pleural effusion": (N, []),
        },
    ),
    (
        "Chest CT (enhanced)\nClinical information: hemoptysis.\n\nFindings:\n"
        "3.2 cm spiculated mass in the RUL apical segment with ipsilateral hilar LN enlargement.\n"
        "Obstructive atelectasis distal to the mass.\nBronchial wall thickening in both lower lobes.\n"
        "No pleural effusion.\n\nImpression:\n1. RUL lung cancer, r/o hilar LN metastasis.\n2. Bronchitis.",
        {
            "mass": (P, ["right upper lobe"]),
            "atelectasis": (P, ["right upper lobe"]),
            "bronchial wall thickening": (P, ["right lower lobe", "left lower lobe"]),
            "pleural effusion": (N, []),
        },
    ),
    (
        "Chest CT\nClinical information: 폐렴 치료 후 F/U.\nComparison: 2023-09-01.\n\nFindings:\n"
        "이전 검사에서 보이던 우중엽 consolidation은 소실됨.\nResidual faint GGO in RML.\n"
        "No pleural effusion.\n\n"
        "Impression:\nImproved pneumonia in RML.",
        {
            "consolidation": (N, []),
            "ground-glass opacity": (P, ["right middle lobe"]),
            "pleural effusion": (N, []),
        },
    ),
]


def chest_lexicon() -> Lexicon:
    """The default schema's chest CT entity values, for the evidence checks."""
    return default_lexicon("chest_ct")


def pick_model(args: argparse.Namespace) -> Path:
    if args.model:
        return Path(args.model)
    storage = Path(os.environ.get("MODEL_STORAGE_DIR", ROOT / "var" / "models")) / "llm"
    preset = args.preset or ("qwen2.5-coder-0.5b" if args.quick else None)
    if preset is None:
        preset = (
            gguf.DEFAULT_PRESET if gguf.is_assembled(storage, gguf.DEFAULT_PRESET) else "qwen2.5-coder-0.5b"
        )
    return gguf.assemble(preset, storage)


def run_pass(mapper: ChestCtMapper, backend: LlamaCppBackend, *, cached: bool) -> dict[str, Any]:
    results: list[MappingResult] = []
    seconds: list[float] = []
    backend.perf_counters(reset=True)
    for text, gold in REPORTS_USED:
        if not cached:
            backend.reset_cache()
        started = time.perf_counter()
        results.append(mapper.map(text, hint=list(gold)))
        seconds.append(time.perf_counter() - started)
        # Progress on stderr (stdout stays `name: value` lines), so a run stopped by a
        # timeout on a loaded machine still shows what it measured.
        print(
            f"{'cached' if cached else 'uncached'} constrained={backend.constrained}: {seconds[-1]:.2f}s "
            f"{results[-1].completion_tokens} generated tokens ok={results[-1].ok}",
            file=sys.stderr,
            flush=True,
        )
    return {"results": results, "seconds": seconds, "perf": backend.perf_counters()}


def relation_f1(results: list[MappingResult]) -> float:
    gold = [
        chest_pairs({"lesions": {k: {"status": s, "locations": loc} for k, (s, loc) in g.items()}})
        for _, g in REPORTS_USED
    ]
    pred = [chest_pairs(r.as_gold()) for r in results]
    return relation_metrics(gold, pred).macro.f1


def hint_leaks(results: list[MappingResult]) -> tuple[int, int, int]:
    """(negated lesions named in the hint, of those returned present, of those flagged)."""
    named = leaked = flagged = 0
    for (_, gold), result in zip(REPORTS_USED, results, strict=True):
        by_key = {f.key: f for f in result.findings}
        for key, (status, _) in gold.items():
            if status == N:
                named += 1
                finding = by_key.get(key)
                if finding is not None and finding.status != N:
                    leaked += 1
                    flagged += FLAG_HINT_LEAK in finding.flags
    return named, leaked, flagged


def rate(tokens: float, ms: float) -> float:
    return tokens / (ms / 1000) if ms else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="0.5B model, 3 reports")
    parser.add_argument("--model", help="a GGUF file (default: the assembled 1.5B, else 0.5B)")
    parser.add_argument("--preset", choices=sorted(gguf.PRESETS), help="assemble and use this preset")
    parser.add_argument(
        "--threads", type=int, default=None, help="llama.cpp decoding threads (default: cores - 1)"
    )
    parser.add_argument("--reports", type=int, default=None, help="how many of the bench reports to use")
    parser.add_argument(
        "--compact",
        action="store_true",
        help='findings as [status, locations, quote] arrays, not {"s","l","e"}',
    )
    args = parser.parse_args()
    global REPORTS_USED
    REPORTS_USED = REPORTS[: args.reports or (3 if args.quick else len(REPORTS))]

    path = pick_model(args)
    backend = LlamaCppBackend(path, n_ctx=4096, n_threads=args.threads)
    mapper = ChestCtMapper(backend, keys=ChestKeys(compact=args.compact), lexicon=chest_lexicon())
    started = time.perf_counter()
    backend.load()
    load_seconds = time.perf_counter() - started

    uncached = run_pass(mapper, backend, cached=False)
    # The last uncached call left the instructions and examples evaluated: the
    # cached passes start warm without an extra call.
    cached = run_pass(mapper, backend, cached=True)
    backend.constrained = False
    free = run_pass(mapper, backend, cached=True)
    backend.constrained = True

    per_uncached = statistics.fmean(uncached["seconds"])
    per_cached = statistics.fmean(cached["seconds"])
    constrained_results = uncached["results"] + cached["results"]
    named, leaked, flagged = hint_leaks(cached["results"])
    same = sum(
        a.steps[0].parsed == b.steps[0].parsed
        for a, b in zip(uncached["results"], cached["results"], strict=True)
    )
    lines = {
        "model": backend.info()["name"],
        "output_template": "compact arrays" if args.compact else "objects",
        "threads": backend.n_threads,
        "threads_batch": backend.n_threads_batch,
        "reports": len(REPORTS_USED),
        "load_seconds": round(load_seconds, 2),
        "prompt_tokens_per_report": round(statistics.fmean(r.prompt_tokens for r in cached["results"]), 1),
        "prompt_tokens_evaluated_per_report_cached": round(cached["perf"]["n_p_eval"] / len(REPORTS_USED), 1),
        "generated_tokens_per_report": round(
            statistics.fmean(r.completion_tokens for r in cached["results"]), 1
        ),
        "seconds_per_report_uncached": round(per_uncached, 2),
        "seconds_per_report_cached": round(per_cached, 2),
        "prefix_cache_speedup": round(per_uncached / per_cached, 2),
        "prompt_tokens_per_second": round(
            rate(uncached["perf"]["n_p_eval"], uncached["perf"]["t_p_eval_ms"]), 1
        ),
        "generated_tokens_per_second": round(rate(cached["perf"]["n_eval"], cached["perf"]["t_eval_ms"]), 1),
        "json_valid_rate": round(sum(r.ok for r in constrained_results) / len(constrained_results), 3),
        "seconds_per_report_cached_unconstrained": round(statistics.fmean(free["seconds"]), 2),
        "generated_tokens_per_second_unconstrained": round(
            rate(free["perf"]["n_eval"], free["perf"]["t_eval_ms"]), 1
        ),
        "json_parse_rate_unconstrained": round(
            sum(r.steps[0].parsed is not None for r in free["results"]) / len(free["results"]), 3
        ),
        "json_valid_rate_unconstrained": round(sum(r.ok for r in free["results"]) / len(free["results"]), 3),
        "grammar_overhead_per_token": round(
            rate(free["perf"]["n_eval"], free["perf"]["t_eval_ms"])
            / rate(cached["perf"]["n_eval"], cached["perf"]["t_eval_ms"])
            - 1,
            3,
        ),
        "cached_uncached_same_structure_rate": round(same / len(REPORTS_USED), 3),
        "relation_macro_f1": round(relation_f1(cached["results"]), 3),
        "hint_negated_named": named,
        "hint_leak_rate": round(leaked / named, 3) if named else 0.0,
        "hint_leaks_flagged": f"{flagged}/{leaked}",
        "findings_flagged_rate": round(
            sum(bool(f.flags) for r in cached["results"] for f in r.findings)
            / max(1, sum(len(r.findings) for r in cached["results"])),
            3,
        ),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    for name, value in lines.items():
        print(f"{name}: {value}")
    for result in constrained_results + free["results"]:
        if not result.ok:  # diagnostics on stderr: stdout stays `name: value` lines
            raw = result.steps[0].raw[:300]
            print(
                f"failed (constrained={result.model['constrained']}): {result.error} | {raw!r}",
                file=sys.stderr,
            )


REPORTS_USED = REPORTS

if __name__ == "__main__":
    main()
