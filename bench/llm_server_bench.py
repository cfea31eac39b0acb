"""Stage 2 through a local OpenAI-compatible server: sequential vs requests in flight.

    python bench/llm_server_bench.py [--quick]

Prints `name: value` lines (bench/_llm_server.py says what each figure is). The fake
server runs at 200 ms per request with 16 in flight (target: at least 10x the
sequential rate); the real server (llama-cpp-python on the bundled 0.5B preset)
only when its model file and packages are there (BENCH_SKIP_REAL_LLM=1 skips it).
Uses the configured database (DATABASE_URL), migrated.
"""

from __future__ import annotations

import argparse

from _django import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer reports")
    args = parser.parse_args()
    setup_django()
    from _llm_server import figures

    out = figures(args.quick)
    for name, value in out.items():
        print(f"{name}: {value}")
    sequential = out.get("llm_server_reports_per_second_sequential")
    if sequential:
        print(f"llm_server_speedup: {out['llm_server_reports_per_second_concurrent'] / sequential:.2f}")
    real = out.get("real_llm_server_reports_per_second_sequential")
    if real:
        print(f"real_llm_server_speedup: {out['real_llm_server_reports_per_second_concurrent'] / real:.2f}")


if __name__ == "__main__":
    main()
