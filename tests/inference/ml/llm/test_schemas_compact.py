"""The compact output template (ChestKeys(compact=True)): fixed-length arrays per
finding, validated, expanded back to named fields, example outputs conformed to it,
and the same mapping result as the default object template."""

from inference.ml.llm.backends import FakeBackend
from inference.ml.llm.mapping import ChestCtMapper
from inference.ml.llm.schemas import EVIDENCE_MAX_CHARS, ChestKeys, chest_ct_schema, conform, expand, validate

SCHEMA = chest_ct_schema(ChestKeys(compact=True))


def test_a_finding_is_status_locations_quote_and_expands_to_named_fields():
    answer = {
        "nodule": ["present", ["right upper lobe"], "8 mm nodule in RUL"],
        "pleural effusion": ["negated", "No"],
    }
    assert validate(answer, SCHEMA) == []
    assert expand(answer, SCHEMA) == {
        "nodule": {"s": "present", "l": ["right upper lobe"], "e": "8 mm nodule in RUL"},
        "pleural effusion": {"s": "negated", "e": "No"},
    }


def test_wrong_length_wrong_position_and_long_quotes_are_violations():
    assert validate({"nodule": ["present", []]}, SCHEMA) == ["$.nodule: fewer than 3 items"]
    assert "$.nodule: more than 3 items" in validate({"nodule": ["present", [], "q", "extra"]}, SCHEMA)
    assert validate({"nodule": [[], "present", "q"]}, SCHEMA)[0].startswith("$.nodule[0]:")
    too_long = "x" * (EVIDENCE_MAX_CHARS + 1)
    assert validate({"nodule": ["present", [], too_long]}, SCHEMA) == [
        f"$.nodule[2]: longer than {EVIDENCE_MAX_CHARS} characters"
    ]


def test_conform_turns_readable_examples_compact_and_drops_unknown_locations():
    readable = {"nodule": {"s": "present", "l": ["right upper lobe", "right base"], "e": "nodule"}}
    assert conform(readable, SCHEMA) == {"nodule": ["present", ["right upper lobe"], "nodule"]}
    assert conform(conform(readable, SCHEMA), SCHEMA) == conform(readable, SCHEMA)


def test_the_schema_is_what_llama_cpp_turns_into_a_grammar():
    nodule = SCHEMA["properties"]["nodule"]
    assert nodule["type"] == "array" and nodule["items"] is False
    assert [item["title"] for item in nodule["prefixItems"]] == ["s", "l", "e"]
    assert nodule["prefixItems"][1]["maxItems"] == 5


def test_compact_and_object_templates_give_the_same_findings():
    text = "Consolidation in RLL.\nNo pleural effusion."
    readable = {
        "consolidation": {"s": "present", "l": ["right lower lobe"], "e": "Consolidation in RLL"},
        "pleural effusion": {"s": "negated", "e": "No pleural effusion"},
    }
    results = []
    for compact in (False, True):
        backend = FakeBackend(lambda messages, schema: conform(readable, schema))
        mapper = ChestCtMapper(backend, keys=ChestKeys(compact=compact))
        result = mapper.map(text)
        assert result.ok, result.error
        results.append([(f.key, f.status, f.locations, f.evidence_span) for f in result.findings])
        shape = "an array [status, locations, quote]" if compact else 'an object {"s": status'
        assert shape in backend.calls[0][0][0]["content"]
    assert results[0] == results[1]
