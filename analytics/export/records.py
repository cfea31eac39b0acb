"""One exported finding, whatever it came from, and the report it belongs to.

Labels keep what a clinician confirmed apart from what a model only suggested:

* ``verified``: a clinician approved, edited or added it (review app), on a
  report whose review is complete;
* ``unverified``: a model's prediction on a report no clinician has verified
  (latest valid stage 2 result; stage 1 keys where stage 2 has not run);
* ``gold``: an annotator's (adjudicated) labels (annotations app).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

VERIFIED = "verified"
UNVERIFIED = "unverified"
GOLD = "gold"
LABELS = (VERIFIED, UNVERIFIED, GOLD)

PRESENT, UNCERTAIN, NEGATED = "present", "uncertain", "negated"


@dataclass(frozen=True, slots=True)
class ReportInfo:
    id: int
    source: str
    external_id: str
    patient_id: str
    study_datetime: datetime | None
    modality: str
    title: str
    text: str | None  # loaded only when a format or a source needs it


@dataclass(slots=True)
class FindingRecord:
    report: ReportInfo
    label: str  # VERIFIED | UNVERIFIED | GOLD
    entity_type: str  # schema entity type name ("Lesion", "Diagnosis"), or the model's kind
    key: str
    status: str  # present | uncertain | negated
    paired: list[str] = field(default_factory=list)  # locations, or [episode]
    paired_type: str = ""  # entity type of `paired` ("Location", "Episode")
    evidence: str = ""  # the quote that supports the finding
    start: int | None = None  # code points into the report text, [start, end)
    end: int | None = None
    method: str = ""  # "review", "stage2:llm_hint", "stage1", "gold:adjudication", ...
    model: str = ""  # model version / LLM and prompt version that produced it
    score: float | None = None  # stage 1 probability, when known
    decided_by: str = ""  # clinician (verified) or annotator (gold)
    decided_at: datetime | None = None  # or when the model produced it

    @property
    def span_text(self) -> str:
        text = self.report.text
        if text is not None and self.start is not None and self.end is not None:
            return text[self.start : self.end]
        return ""
