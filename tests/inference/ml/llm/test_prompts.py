import json

import pytest

from inference.ml.llm.backends import FakeBackend
from inference.ml.llm.mapping import BrainMriMapper, ChestCtMapper
from inference.ml.llm.prompts import TASKS, build_messages, load_template, prompt_versions, user_message
from inference.ml.llm.schemas import (
    EVIDENCE_MAX_CHARS,
    BrainKeys,
    ChestKeys,
    brain_episode_schema,
    brain_nontumor_schema,
    brain_step1_schema,
    chest_ct_schema,
    conform,
    validate,
)
from inference.ml.preprocess import normalize

REPORT = "Findings:\n8 mm nodule   in RUL (#12).\nNo pleural effusion."


def _chest_messages(hint):
    return ChestCtMapper(FakeBackend({}, default="{}")).messages(REPORT, hint=hint)


def test_hint_mode_ends_with_the_normalized_report_and_the_target_lesions_line():
    messages = _chest_messages(["nodule", "consolidation"])
    assert messages[-1] == {
        "role": "user",
        "content": "### Report:\nFindings: 8 mm nodule in RUL ( 12). No pleural effusion.\n"
        "### Target Lesions: nodule, consolidation",
    }


def test_no_hint_mode_has_no_hint_line_anywhere():
    messages = _chest_messages(None)
    assert messages[-1]["content"] == "### Report:\n" + normalize(REPORT).text
    assert not any("### Target Lesions:" in m["content"] for m in messages if m["role"] == "user")


def test_messages_are_system_then_two_examples_then_the_report():
    messages = _chest_messages(["nodule"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "### Target Lesions:" in messages[1]["content"]  # examples show their hint in hint mode
    assert "right upper lobe, right middle lobe" in messages[0]["content"]  # key lists filled in
    assert "$" not in messages[0]["content"]
    answer = json.loads(messages[2]["content"])
    assert list(answer) == ["nodule", "consolidation", "ground-glass opacity", "pleural effusion"]
    assert messages[2]["content"].startswith('{"nodule":{"s":"present","l":["left upper lobe"],"e":"6 mm')


def test_empty_hint_says_none():
    assert user_message("x", label="Target Lesions", hint=[]).endswith("### Target Lesions: none")


def test_example_outputs_follow_the_default_schemas_and_quote_their_report():
    chest, brain = ChestKeys(), BrainKeys()
    schemas = {
        "chest_ct_relations": lambda ex: chest_ct_schema(chest),
        "brain_mri_step1": lambda ex: brain_step1_schema(brain),
        "brain_mri_episode": lambda ex: brain_episode_schema(brain, list(ex.output)),
        "brain_mri_nontumor": lambda ex: brain_nontumor_schema(brain),
    }
    for name in TASKS:
        template = load_template(name)
        assert len(template.examples) == 2
        for example in template.examples:
            schema = schemas[name](example)
            assert validate(dict(example.output), schema) == []
            assert conform(example.output, schema) == dict(example.output)  # already in grammar order
            text = normalize(example.report).text
            for value in example.output.values():
                assert value["e"] in text
                assert len(value["e"]) <= EVIDENCE_MAX_CHARS  # the grammar would cut it


def test_prompt_versions_are_stable_hashes_of_the_template_files():
    versions = prompt_versions()
    assert set(versions) == set(TASKS)
    assert all(len(v) == 12 for v in versions.values())
    assert len(set(versions.values())) == len(TASKS)
    assert versions == prompt_versions()


def test_result_prompt_version_changes_with_the_key_lists():
    backend = FakeBackend({}, default="{}")
    default = ChestCtMapper(backend).prompt_version
    fewer = ChestCtMapper(
        backend, keys=ChestKeys(locations=("right lung", "left lung", "pleura"))
    ).prompt_version
    assert default != fewer


def test_examples_are_conformed_to_a_site_schema_with_fewer_keys():
    keys = ChestKeys(lesions=("nodule", "consolidation"), locations=("right lung", "left lung"), implicit={})
    messages = ChestCtMapper(FakeBackend({}, default="{}"), keys=keys).messages(REPORT)
    answer = json.loads(messages[2]["content"])
    assert answer == {
        "nodule": {"s": "present", "l": [], "e": "6 mm solid nodule in LUL"},
        "consolidation": {"s": "present", "l": [], "e": "consolidation with air-bronchogram"},
    }


def test_episode_step_always_names_its_targets():
    backend = FakeBackend(
        {
            "Target Diseases: metastasis": {"metastasis": {"ep": "stable", "e": "stable"}},
            "### Report": {"metastasis": {"s": "present", "e": "Brain metastasis"}},
        }
    )
    BrainMriMapper(backend).map("Brain metastasis, stable.", hint=None)
    episode_messages = backend.calls[1][0]
    assert episode_messages[-1]["content"].endswith("### Target Diseases: metastasis")
    assert "### Target Diseases:" in episode_messages[1]["content"]


@pytest.mark.parametrize("name", TASKS)
def test_every_template_renders_without_leftover_placeholders(name):
    values = {
        "lesions": "a",
        "locations": "b",
        "implicit": "c",
        "shape": "g",
        "implicit_shape": "h",
        "status_shape": "i",
        "episode_shape": "j",
        "diagnoses": "d",
        "episodes": "e",
        "non_tumor": "f",
    }
    template = load_template(name)
    messages = build_messages(template, report="r", hint=None, values=values)
    assert "$" not in messages[0]["content"]


def test_a_steps_prefix_built_once_gives_the_messages_build_messages_gives():
    mapper = ChestCtMapper(FakeBackend({}, default="{}"))
    step = mapper.step
    for hint in (None, ["nodule"], None, []):
        expected = build_messages(
            step.template,
            report=f"{REPORT} {hint}",
            hint=hint,
            values=step.values,
            conform=lambda output: conform(output, mapper.schema),
        )
        assert mapper.messages(f"{REPORT} {hint}", hint=hint) == expected
    mapper.messages(REPORT)[0]["content"] = "edited by a caller"
    assert mapper.messages(REPORT)[0]["content"] != "edited by a caller"


def test_a_step_builds_one_prefix_per_schema():
    step = ChestCtMapper(FakeBackend({}, default="{}")).step
    every = chest_ct_schema(ChestKeys())
    nodules = chest_ct_schema(ChestKeys(lesions=("nodule",)))
    seen = []
    for schema in (every, nodules, every):
        expected = build_messages(
            step.template,
            report=REPORT,
            hint=None,
            values=step.values,
            conform=lambda output, schema=schema: conform(output, schema),
        )
        assert step.messages(REPORT, None, schema) == expected
        seen.append(expected)
    assert seen[0] != seen[1]  # the examples' answers keep only the schema's keys
