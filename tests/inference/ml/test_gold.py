"""The one gold-file reader (inference.ml.gold): records in file order, line-numbered
errors that never quote the line, and each caller's own required fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.ml.gold import REQUIRED, GoldFileError, gold_file_records, gold_lines

LINE = {"id": "g1", "modality": "chest_ct", "text": "Secret report text.", "gold": {"lesions": {}}}


def _lines(*records: object) -> list[bytes]:
    return [(r if isinstance(r, str) else json.dumps(r)).encode() + b"\n" for r in records]


def test_records_keep_their_line_numbers_skipping_blank_lines_and_a_bom() -> None:
    raw = [b"\xef\xbb\xbf" + _lines(LINE)[0], b"\n", b"   \n", *_lines({**LINE, "id": "g2"})]
    lines = list(gold_lines(raw))
    assert [(line.number, line.record["id"]) for line in lines] == [(1, "g1"), (4, "g2")]


def test_text_lines_are_read_as_well_as_bytes() -> None:
    assert [line.record for line in gold_lines([json.dumps(LINE)])] == [LINE]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"id": "g1", "text": "Secret report text."', r"^line 2: malformed JSON \(.+ at column \d+\)$"),
        (b'["Secret report text."]', r"^line 2: must be one JSON object$"),
        (b'{"id": "g1", "text": "Secret \xff"}', r"^line 2: not valid UTF-8$"),
        (
            json.dumps({"id": "g1", "gold": {}}).encode(),
            r'^line 2: needs "id", "modality", "text" and "gold" \(missing "modality" and "text"\)$',
        ),
        (json.dumps({**LINE, "gold": ["nodule"]}).encode(), r'^line 2: "gold" must be an object'),
        (json.dumps({k: v for k, v in LINE.items() if k != "gold"}).encode(), r'"gold" must be an object'),
    ],
)
def test_a_bad_line_is_named_and_never_quoted(raw: bytes, message: str) -> None:
    with pytest.raises(GoldFileError, match=message) as caught:
        list(gold_lines([*_lines(LINE), raw]))
    assert caught.value.line == 2
    assert "Secret" not in str(caught.value)


def test_each_caller_says_which_fields_it_needs() -> None:
    bare = {"id": "g1", "mentions": []}
    assert [line.record for line in gold_lines(_lines(bare), require=())] == [bare]
    with pytest.raises(GoldFileError, match='"gold" must be an object'):
        list(gold_lines(_lines({**bare, "gold": "present"}), require=()))  # given: still an object
    assert REQUIRED == ("id", "modality", "text", "gold")


def test_a_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_bytes(b"".join(_lines(LINE, {**LINE, "id": "g2"})))
    assert [r["id"] for r in gold_file_records(path)] == ["g1", "g2"]
