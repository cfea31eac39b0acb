"""Checks on an uploaded text file (CSV, JSONL), made in the request before any job is
queued, so a wrong file gets a clear form error at once instead of a raw
UnicodeDecodeError in a worker minutes later (issue 18).

    problem = text_upload_check(upload, {".csv", ".jsonl"})   # None: the file is fine

Refused: a name without one of the allowed suffixes; an empty file (nothing but a BOM
or white space counts as empty); a binary file (a known magic number such as PNG, ZIP,
PDF, or a NUL byte in its first KB); text that is not UTF-8 (a UTF-8 byte-order mark is
fine), named by line and byte. The whole file is decoded, a chunk at a time: the
upload is on disk or in memory already, and decoding is far faster than receiving it.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from pathlib import Path

from django.core.files.uploadedfile import UploadedFile

HEAD_BYTES = 1024
CHUNK_BYTES = 1024 * 1024
UTF8_BOM = codecs.BOM_UTF8

# What an upload that is not text most often is; the message names it.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or Word .docx file is one: save it as CSV UTF-8)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip archive (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (extract it first)"),
    (b"Rar!\x1a\x07", "a RAR archive (extract it first)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (.xls / .doc: save it as CSV UTF-8)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program (ELF executable)"),
)


def text_upload_check(upload: UploadedFile, allowed_suffixes: Iterable[str]) -> str | None:
    """Why `upload` is not a UTF-8 text file with one of `allowed_suffixes` (".csv"),
    or None. Leaves the file at its start."""
    allowed = sorted({s.lower() for s in allowed_suffixes})
    name = Path(upload.name or "").name
    suffix = Path(name).suffix.lower()
    if suffix not in allowed:
        what = f"a {suffix} file" if suffix else "a file without an extension"
        return f"{name or 'The upload'} is {what}: upload a {_either(allowed)} file."
    if not upload.size:
        return "The file is empty."
    try:
        upload.seek(0)
        head = upload.read(HEAD_BYTES)
        problem = _binary_problem(head)
        return problem or _decode_problem(upload.chunks(CHUNK_BYTES), bom=head.startswith(UTF8_BOM))
    finally:
        upload.seek(0)


def _either(suffixes: list[str]) -> str:
    return suffixes[0] if len(suffixes) == 1 else ", ".join(suffixes[:-1]) + " or " + suffixes[-1]


def _binary_problem(head: bytes) -> str | None:
    for signature, what in SIGNATURES:
        if head.startswith(signature):
            return f"This file is {what}, not a CSV or JSONL text file."
    if b"\x00" in head:
        at = head.index(b"\x00") + 1
        return f"This file is binary (a NUL byte at byte {at}), not a CSV or JSONL text file."
    return None


def _decode_problem(chunks: Iterable[bytes], *, bom: bool) -> str | None:
    """Decode every chunk as UTF-8 (utf-8-sig: a leading BOM is dropped); the first
    byte that is not UTF-8 is named by its line and position."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    offset = 0  # bytes of the file before this chunk
    lines = 1  # the line this chunk starts on
    has_text = False
    first = True
    for chunk in chunks:
        pending = decoder.getstate()[0]  # a character cut at the previous chunk's end
        data = pending + chunk
        try:
            text = decoder.decode(chunk, final=False)
        except UnicodeDecodeError as exc:
            start = exc.start + (len(UTF8_BOM) if first and bom else 0)  # the BOM is cut before decoding
            at = offset - len(pending) + start
            line = lines + data[:start].count(b"\n")
            return (
                f"This file is not UTF-8 encoded: byte {at + 1} (0x{data[start]:02x}, on line {line}) "
                "is not UTF-8. Save it as UTF-8 (e.g. Excel's 'CSV UTF-8'), or convert it from its "
                "encoding (Latin-1, Windows-1252, CP949/EUC-KR ...)."
            )
        has_text = has_text or bool(text.strip())
        offset += len(chunk)
        lines += chunk.count(b"\n")
        first = False
    try:
        has_text = bool(decoder.decode(b"", final=True).strip()) or has_text
    except UnicodeDecodeError:
        return f"This file is not UTF-8 encoded: it ends in the middle of a character (byte {offset})."
    return None if has_text else "The file is empty (nothing but white space)."
