"""Stage 2 cohorts chosen by filters, not internal ids (issue 18): source, import, dates,
patients, stage 1 predicted or not, not yet mapped; the count as the filters change; and
"with hint" over reports stage 1 has not predicted is refused with the reason unless the
admin confirms mapping them without a hint (form and API alike)."""

import re
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from annotations.models import Modality, Report
from inference.models import ModelVersion
from inference.services.stage2 import Cohort, Stage2HintMissing, cohort_reports, stage2_job_create
from jobs.models import Job
from tests.annotations.factories import ReportFactory
from tests.inference.factories import CHEST_TEXT, ScriptedLLM, Stage1PredictionFactory, install

pytestmark = pytest.mark.django_db


@pytest.fixture
def llm(monkeypatch):
    return install(monkeypatch, ScriptedLLM())


@pytest.fixture
def cohort(chest_ct):
    """Four chest CT reports: two from PACS (one imported by job `imported`), two from a
    file; the active stage 1 model has predicted the first PACS one and one file report."""
    imported = Job.objects.create(kind=Job.Kind.IMPORT, title="Import pacs.csv")
    when = [datetime(2024, m, 1, tzinfo=UTC) for m in (1, 3, 5, 7)]
    reports = {
        "pacs1": ReportFactory(source="pacs", text=CHEST_TEXT, study_datetime=when[0], import_job=imported),
        "pacs2": ReportFactory(source="pacs", text=CHEST_TEXT, study_datetime=when[1], patient_id="pt-9"),
        "file1": ReportFactory(source="file", text=CHEST_TEXT, study_datetime=when[2], patient_id="pt-9"),
        "file2": ReportFactory(source="file", text=CHEST_TEXT, study_datetime=when[3]),
    }
    version = ModelVersion.objects.create(
        modality=chest_ct, name="s1", preset="tiny", status="ready", is_active=True
    )
    for name in ("pacs1", "file1"):
        Stage1PredictionFactory(report=reports[name], model_version=version)
    reports["import"] = imported
    return reports


def _names(cohort, selected) -> set[str]:
    ids = set(selected.values_list("pk", flat=True))
    return {name for name, r in cohort.items() if name != "import" and r.pk in ids}


def test_filters_select_by_source_import_dates_patients_and_stage1(cohort):
    def pick(**filters):
        return _names(cohort, cohort_reports(Cohort(modality="chest_ct", **filters)))

    assert pick(source="pacs") == {"pacs1", "pacs2"}
    assert pick(import_job=cohort["import"].pk) == {"pacs1"}
    assert pick(date_from=date(2024, 2, 1), date_to=date(2024, 6, 1)) == {"pacs2", "file1"}
    assert pick(patient_ids=("pt-9",)) == {"pacs2", "file1"}
    assert pick(stage1="with") == {"pacs1", "file1"}
    assert pick(stage1="without") == {"pacs2", "file2"}
    assert pick(source="file", stage1="without") == {"file2"}


def test_filters_survive_the_job_params(cohort):
    chosen = Cohort(modality="chest_ct", source="pacs", import_job=cohort["import"].pk, stage1="with")
    assert Cohort.from_params(chosen.as_params()) == chosen
    # Params of jobs started before these filters existed still read.
    assert Cohort.from_params({"modality": "chest_ct"}) == Cohort(modality="chest_ct")


def test_with_hint_over_reports_stage1_has_not_predicted_is_refused_with_the_count(cohort, llm):
    with pytest.raises(
        Stage2HintMissing, match="2 of the 4 selected reports have no stage 1 prediction"
    ) as exc:
        stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm_hint")
    assert (exc.value.missing, exc.value.total) == (2, 4)
    assert not Job.objects.filter(kind=Job.Kind.INFER).exists()
    confirmed = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm_hint", without_hint=True)
    assert confirmed.params["reports_without_hint"] == 2 and confirmed.params["planned_reports"] == 4
    predicted = stage2_job_create(cohort=Cohort(modality="chest_ct", stage1="with"), mode="llm_hint")
    assert predicted.params["reports_without_hint"] == 0 and predicted.params["planned_reports"] == 2


def test_with_hint_without_an_active_stage1_model_says_so(cohort, llm):
    ModelVersion.objects.update(is_active=False)
    with pytest.raises(Stage2HintMissing, match="chest_ct has no active stage 1 model"):
        stage2_job_create(cohort=Cohort(modality="chest_ct", source="pacs"), mode="llm_hint")


def test_modes_without_a_hint_need_no_confirmation(cohort, llm):
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm")
    assert "reports_without_hint" not in job.params and job.params["planned_reports"] == 4


def test_the_form_refuses_a_hintless_with_hint_run_and_keeps_every_choice(client, admin_user, cohort, llm):
    client.force_login(admin_user)
    data = {
        "modality": "chest_ct",
        "mode": "llm_hint",
        "source": "pacs",
        "date_from": "2024-01-01",
        "patient_ids": "pt-9, pt-3",
        "stage1": "",
    }
    response = client.post(reverse("inference:stage2_start"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "1 of the 1 selected reports have no stage 1 prediction" in html
    assert not Job.objects.filter(kind=Job.Kind.INFER).exists()
    form = response.context["form"]
    assert (form["source"].value(), form["mode"].value(), form["patient_ids"].value()) == (
        "pacs",
        "llm_hint",
        "pt-9, pt-3",
    )
    assert '<option value="pacs" selected>pacs</option>' in html
    assert 'value="2024-01-01"' in html and "pt-9, pt-3</textarea>" in html
    assert re.search(r'<input type="radio" name="mode" value="llm_hint"[^>]*checked', html)

    response = client.post(reverse("inference:stage2_start"), data | {"without_hint": "on"})
    assert response.status_code == 302
    job = Job.objects.get(kind=Job.Kind.INFER)
    assert job.params["cohort"]["source"] == "pacs" and job.params["cohort"]["patient_ids"] == [
        "pt-9",
        "pt-3",
    ]
    assert job.params["reports_without_hint"] == 1


def test_the_form_asks_for_no_report_ids(client, admin_user, cohort):
    client.force_login(admin_user)
    page = client.get(reverse("inference:stage2_start"))
    form = page.context["form"]
    assert "report_ids" not in form.fields
    assert {"source", "import_job", "date_from", "date_to", "patient_ids", "stage1", "only_missing"} <= set(
        form.fields
    )
    assert [c[0] for c in form.fields["source"].choices] == ["", "file", "pacs"]
    assert (str(cohort["import"].pk), f"#{cohort['import'].pk} Import pacs.csv") in [
        (v, label.split(" (")[0]) for v, label in form.fields["import_job"].choices
    ]


def test_the_count_follows_the_filters_and_warns_of_missing_hints(client, admin_user, cohort, llm):
    client.force_login(admin_user)
    url = reverse("inference:stage2_count")
    response = client.post(url, {"modality": "chest_ct", "mode": "llm_hint", "source": "file"})
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<p id="stage2-count"')
    assert "<strong>2</strong> reports match" in html
    assert "1 of them has no stage 1 prediction" in html
    rules = client.post(
        url, {"modality": "chest_ct", "mode": "rules", "stage1": "with", "only_missing": "on"}
    )
    text = rules.content.decode()
    assert "<strong>2</strong> reports match" in text and "2 not mapped yet" in text
    assert "hint-warning" not in text


def test_the_count_is_for_admins(client, clinician, cohort):
    client.force_login(clinician)
    assert client.post(reverse("inference:stage2_count"), {"modality": "chest_ct"}).status_code == 403


def test_the_api_takes_the_same_filters_and_refuses_a_hintless_with_hint_run(client, admin_user, cohort, llm):
    client.force_login(admin_user)
    url = reverse("api_stage2_runs")
    body = {"modality": "chest_ct", "mode": "llm_hint", "source": "file"}
    refused = client.post(url, body, content_type="application/json")
    assert refused.status_code == 409
    assert refused.json()["reports_without_hint"] == 1 and refused.json()["reports"] == 2
    started = client.post(url, body | {"without_hint": True}, content_type="application/json")
    assert started.status_code == 202
    job = Job.objects.get(pk=started.json()["job"])
    assert job.params["cohort"]["source"] == "file" and job.params["reports_without_hint"] == 1
    hinted = client.post(url, body | {"stage1": "with"}, content_type="application/json")
    assert hinted.status_code == 202
    assert Job.objects.get(pk=hinted.json()["job"]).params["planned_reports"] == 1


def test_the_page_opens_with_the_count_of_its_first_choices(client, admin_user, cohort, brain_mri, llm):
    first = Modality.objects.first()  # the modality the form shows first
    ReportFactory.create_batch(3, modality=first, text="MRI brain. No acute infarct.")
    client.force_login(admin_user)
    html = client.get(reverse("inference:stage2_start")).content.decode()
    expected = Report.objects.filter(modality=first).count()
    assert f"<strong>{expected}</strong> reports match" in html  # llm_hint, not mapped yet
    assert f"{expected} of them have no stage 1 prediction" in html
