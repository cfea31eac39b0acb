"""A seeded generator of realistic chest CT and brain MRI reports with gold labels.

Plain Python (no Django), so it runs, tests and benchmarks on its own:
`annotations.demo.corpus.generate_reports` / `write_jsonl`.
"""
