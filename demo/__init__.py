"""The demo: a seeded synthetic corpus, the users and data a newcomer logs in to,
and the pipeline that gives every role real work (`scripts/run.sh` runs all three).

It sits on top of the other apps and nothing outside it imports it (benches and
tests may), so analytics keeps analytics and annotations keeps annotations.
`demo.generator` is plain Python: importing it loads no Django.
"""
