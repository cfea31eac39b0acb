"""Weak-labelling throughput: the single-pass entity-value matcher plus negation /
uncertainty detection, over generated demo reports, with the default schema's
values. Both modes come from one match per report (what the weak-label job does).

    python bench/weak_label_bench.py [--quick] [--n 100000]

Plain Python (no database): the texts are generated first and not timed.
Prints `name: value` lines; the claim is reports_per_second >= 5,000 on 2 cores.
reports_per_cpu_second is the same rate over this process's CPU time: the figure
to compare when other work shares the machine (wall time then counts waiting).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.generator.corpus import generate_reports
from inference.ml.defaults import default_detector, default_schema
from inference.ml.text.labels import MODES, label_report
from inference.ml.text.lexicon import lexicon_from_schema, lexicon_values
from inference.ml.text.matcher import Matcher


def matchers() -> dict[str, Matcher]:
    """The default schema's values per modality, as the weak-label job compiles a modality's."""
    return {
        modality["code"]: Matcher(lexicon_values(lexicon_from_schema(modality)))
        for modality in default_schema()["modalities"]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20k reports instead of 100k")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the median is reported")
    args = parser.parse_args()
    n = args.n or (20_000 if args.quick else 100_000)

    reports = [(r["modality"], r["text"]) for r in generate_reports(n=n, seed=11)]
    by_modality = matchers()
    detector = default_detector()

    def run(modes: tuple[str, ...]) -> tuple[float, float, int, int]:
        """Wall seconds, CPU seconds of this process, mentions, negated mentions."""
        started, cpu_started = time.perf_counter(), time.process_time()
        mentions = negated = 0
        for modality, text in reports:
            labels = label_report(text, by_modality[modality], detector, modes=modes)
            mentions += len(labels.matches)
            negated += labels.statuses.count("negated")
        return time.perf_counter() - started, time.process_time() - cpu_started, mentions, negated

    both = [run(MODES) for _ in range(args.repeat)]
    keyword_only = [run(("keyword",)) for _ in range(args.repeat)]
    seconds = statistics.median(t for t, _, _, _ in both)
    cpu_seconds = statistics.median(c for _, c, _, _ in both)
    match_seconds = statistics.median(t for t, _, _, _ in keyword_only)
    _, _, mentions, negated = both[0]
    print(f"reports: {n}")
    print(f"mean_chars_per_report: {sum(len(t) for _, t in reports) / n:.0f}")
    print(f"mentions: {mentions}")
    print(f"negated_mentions: {negated}")
    print(f"seconds: {seconds:.2f}")
    print(f"reports_per_second: {n / seconds:.0f}")
    # One thread: on a machine shared with other work, CPU time is what the
    # labelling itself costs; wall time also counts waiting for a core.
    print(f"reports_per_cpu_second: {n / cpu_seconds:.0f}")
    print(f"match_only_reports_per_second: {n / match_seconds:.0f}")


if __name__ == "__main__":
    main()
