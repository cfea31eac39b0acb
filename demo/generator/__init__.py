"""A seeded generator of realistic chest CT and brain MRI reports with gold labels.

Plain Python (no Django), so it runs, tests and benchmarks on its own:
`demo.generator.corpus.generate_reports` / `write_jsonl`. Importing it
loads no Django module (tests/demo/generator/test_plain_python.py checks it); its
one import from outside is the default schema's key names, a plain-Python reader.
"""
