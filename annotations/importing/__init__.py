"""Reading, checking and writing report files (CSV, JSONL, OMOP CDM NOTE) for import.

`readers` turns a file into records with physical line numbers and
`validation` turns a record into a checked row or problems: both plain Python,
no database. `writer` writes one checked batch. The service
`annotations.services.importing.reports_import` drives them, holds the single
transaction and reports progress.
"""
