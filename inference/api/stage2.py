"""REST API of stage 2: batch runs (admins), the configured LLM and its connection
test (admins), and one report's relationship mapping, stored or computed now
(clinicians and admins). Bad input is a 400 with the reason; an LLM that is not
configured or not reachable is a 503 with what to fix, never a stack trace.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.models import Modality, Report
from inference.api import shapes
from inference.ml.llm.backends import LLMConfigError
from inference.models import Stage2Prediction
from inference.services.stage2 import (
    STAGE1_WITH,
    STAGE1_WITHOUT,
    Cohort,
    Stage2Conflict,
    Stage2Error,
    Stage2HintMissing,
    mode_choices,
    mode_refusal,
    stage2_job_create,
    stage2_predict_report,
    stage2_predictions,
    stage2_runs,
)
from inference.services.stage2_backend import llm_summary, llm_test_connection
from inference.tasks.stage2 import stage2_batch_task
from jobs.services import job_enqueue
from radreview.api_permissions import perm
from radreview.bounds import IdField
from radreview.roles import PERM_REVIEW, PERM_RUN_JOBS


def prediction_out(p: Stage2Prediction, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.pk,
        "report": p.report_id,
        "mode": p.mode,
        "run_key": p.run_key,
        "status": p.status,
        "error": p.error,
        "llm": p.llm_name,
        "prompt_version": p.prompt_version,
        "stage1_version": p.stage1_version_id,
        "hint": p.hint,
        "prediction": p.parsed,
        "findings": p.findings,
        "evidence_offsets": "Unicode code points into the report text, [start, end)",
        "seconds": p.seconds,
        "timings": p.timings,
        "prompt_tokens": p.prompt_tokens,
        "completion_tokens": p.completion_tokens,
        "attempts": p.attempts,
        "job": p.job_id,
        "created_at": p.created_at,
    }
    if full:
        out |= {"llm_info": p.llm_info, "messages": p.messages, "raw_output": p.raw_output}
    return out


class _ModeInput(serializers.Serializer):
    """Input with a stage 2 mode: its choices are the mode registry's, read when the
    serializer is built (the registry fills in InferenceConfig.ready())."""

    mode = serializers.ChoiceField(choices=[], default="llm_hint")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mode = self.fields["mode"]
        assert isinstance(mode, serializers.ChoiceField)
        mode.choices = mode_choices()


class Stage2RunApi(APIView):
    """GET: recent stage 2 runs. POST {"modality", "mode", "date_from", "date_to",
    "patient_ids", "source", "import_job", "stage1" ("with" | "without"), "only_missing",
    "report_ids", "without_hint"}: start one (202 with the job id). "llm_hint" over reports
    stage 1 has not predicted is a 409 saying how many, unless "without_hint" is true."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    class Input(_ModeInput):
        modality = serializers.SlugRelatedField(slug_field="code", queryset=Modality.objects.all())
        date_from = serializers.DateField(required=False, allow_null=True, default=None)
        date_to = serializers.DateField(required=False, allow_null=True, default=None)
        patient_ids = serializers.ListField(child=serializers.CharField(max_length=100), default=list)
        report_ids = serializers.ListField(child=IdField(min_value=1), default=list)
        only_missing = serializers.BooleanField(default=False)
        # The metaclass takes declared fields off the class: "source" shadows Field.source for mypy only.
        source = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")  # type: ignore[assignment]
        import_job = IdField(min_value=1, required=False, allow_null=True, default=None)
        stage1 = serializers.ChoiceField(choices=["", STAGE1_WITH, STAGE1_WITHOUT], default="")
        without_hint = serializers.BooleanField(
            default=False, help_text="llm_hint: map the reports stage 1 has not predicted without a hint"
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            refusal = mode_refusal(attrs["mode"], attrs["modality"])
            if refusal:
                raise serializers.ValidationError({"mode": [refusal]})
            return attrs

    @extend_schema(responses={200: shapes.Stage2RunsOut})
    def get(self, request: Request) -> Response:
        runs = [
            {
                "job": j.pk,
                "status": j.status,
                "mode": j.params.get("mode"),
                "run_key": j.params.get("run_key"),
                "cohort": j.params.get("cohort"),
                "progress_done": j.progress_done,
                "progress_total": j.progress_total,
                "result": j.result,
                "error": j.error,
                "created_at": j.created_at,
                "finished_at": j.finished_at,
            }
            for j in stage2_runs()
        ]
        return Response({"results": runs})

    @extend_schema(
        responses={202: shapes.Stage2StartedOut, 409: shapes.Stage2ConflictOut, 503: shapes.UnavailableOut}
    )
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        cohort = Cohort(
            modality=d["modality"].code,
            date_from=d["date_from"],
            date_to=d["date_to"],
            patient_ids=tuple(d["patient_ids"]),
            report_ids=tuple(d["report_ids"]),
            only_missing=d["only_missing"],
            source=d["source"],
            import_job=d["import_job"],
            stage1=d["stage1"],
        )
        try:
            job = stage2_job_create(
                cohort=cohort, mode=d["mode"], user=request.user, without_hint=d["without_hint"]
            )
        except Stage2HintMissing as exc:
            body = {"detail": str(exc), "reports_without_hint": exc.missing, "reports": exc.total}
            return Response(body, status=status.HTTP_409_CONFLICT)
        except Stage2Conflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except Stage2Error as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        except LLMConfigError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        job_enqueue(job=job, task=stage2_batch_task)
        return Response(
            {"job": job.pk, "status": job.status, "run_key": job.params["run_key"]},
            status=status.HTTP_202_ACCEPTED,
        )


class LLMStatusApi(APIView):
    """GET: the configured LLM (model, backend, context size, file or server, error)."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    @extend_schema(responses={200: shapes.LLMSummaryOut})
    def get(self, request: Request) -> Response:
        return Response(llm_summary())


class LLMTestApi(APIView):
    """POST: one tiny constrained call to the configured LLM; {"ok", "seconds", "error"?}."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    @extend_schema(responses={200: shapes.LLMTestOut, 503: shapes.LLMTestOut})
    def post(self, request: Request) -> Response:
        result = llm_test_connection()
        return Response(
            result, status=status.HTTP_200_OK if result["ok"] else status.HTTP_503_SERVICE_UNAVAILABLE
        )


class ReportStage2Api(APIView):
    """GET: the report's stored stage 2 predictions (?full=1 adds prompts and raw output).
    POST {"mode": "llm_hint" | "llm" | "rules" | "combined"}: map the report now (synchronous;
    seconds on a CPU) and store the result; returns it with the exact prompt."""

    permission_classes = [perm(PERM_REVIEW, PERM_RUN_JOBS)]

    class Input(_ModeInput):
        pass

    @extend_schema(
        parameters=[OpenApiParameter("full", bool, description="add prompts and raw output")],
        responses={200: shapes.ReportStage2Out},
    )
    def get(self, request: Request, pk: int) -> Response:
        report = get_object_or_404(Report, pk=pk)
        full = request.query_params.get("full") in ("1", "true")
        rows = [prediction_out(p, full=full) for p in stage2_predictions(report=report)]
        return Response({"report": report.pk, "predictions": rows})

    @extend_schema(responses={200: shapes.Stage2PredictionOut, 503: shapes.UnavailableOut})
    def post(self, request: Request, pk: int) -> Response:
        report = get_object_or_404(Report.objects.select_related("modality"), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            prediction = stage2_predict_report(report=report, mode=data.validated_data["mode"])
        except Stage2Error as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        except LLMConfigError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(prediction_out(prediction, full=True), status=status.HTTP_200_OK)
