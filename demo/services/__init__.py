"""The demo's writes: setup (users, corpus, gold, assignments), the pipeline that
runs a site's jobs on it, and the pipeline's status for the command line."""
