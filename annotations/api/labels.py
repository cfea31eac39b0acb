"""Bring your labels (services.label_import): start a label import, read its result.

POST takes the file as multipart (`file`, with `source`, `label_source`, `fmt`), as the
admin page does, or as JSON with the file's text in `content` (the schema documents JSON
bodies only). Type and encoding are checked before a job exists: a PNG, a binary or a
non-UTF-8 file is a 400 naming the problem. The import runs in a worker; GET
/api/label-imports/<job>/ answers its status and, when it is done, its counts or its
line-level problems (nothing is stored when there are any).
"""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.api import shapes
from annotations.api.common import perm
from annotations.services.label_import import FORMATS, label_import_job_create, label_upload_problem
from annotations.tasks import import_labels_task
from jobs.models import Job
from jobs.services import job_enqueue
from radreview.roles import PERM_IMPORT

SUFFIX = {"jsonl": ".jsonl", "csv": ".csv", "auto": ".txt"}


class LabelImportApi(APIView):
    """POST: queue an import of labels for imported reports; 202 with the job."""

    permission_classes = [perm(PERM_IMPORT)]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    class Input(serializers.Serializer):
        # A field named "source" (the report import's word): DRF's metaclass takes it out of the
        # class attributes, but the stubs see Field.source.
        source = serializers.SlugField(  # type: ignore[assignment]
            max_length=100, help_text="the source the reports were imported from"
        )
        label_source = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        fmt = serializers.ChoiceField(choices=list(FORMATS), default="auto")
        content = serializers.CharField(
            required=False, trim_whitespace=False, help_text="the file's text (JSON clients); or send `file`"
        )
        file = serializers.FileField(required=False, help_text="multipart clients: the file itself")

        def validate(self, attrs: dict) -> dict:
            if not attrs.get("file") and not attrs.get("content"):
                raise serializers.ValidationError(
                    {"file": ["send the label file as `file` or its text as `content`"]}
                )
            return attrs

    class JsonInput(Input):
        """What the schema documents (JSON bodies only): the file's text is required."""

        content = serializers.CharField(
            min_length=1, trim_whitespace=False, help_text="the label file's text"
        )
        file = None  # type: ignore[assignment]  # multipart only, undocumented

    @extend_schema(request=JsonInput, responses={202: shapes.JobStartedOut})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        upload: UploadedFile = d.get("file") or SimpleUploadedFile(
            f"labels{SUFFIX[d['fmt']]}", d["content"].encode("utf-8")
        )
        problem = label_upload_problem(upload=upload)
        if problem:
            raise serializers.ValidationError({"file": [problem]})
        job = label_import_job_create(
            upload=upload, source=d["source"], label_source=d["label_source"], fmt=d["fmt"], user=request.user
        )
        job_enqueue(job=job, task=import_labels_task)
        return Response({"job": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)


class LabelImportDetailApi(APIView):
    """GET: a label import's status and result (counts, or the problems that stopped it)."""

    permission_classes = [perm(PERM_IMPORT)]

    @extend_schema(responses={200: shapes.LabelImportOut})
    def get(self, request: Request, pk: int) -> Response:
        job = get_object_or_404(Job, pk=pk, kind=Job.Kind.IMPORT, params__what="labels")
        return Response(
            {
                "job": job.pk,
                "status": job.status,
                "progress_message": job.progress_message,
                "params": {k: job.params.get(k) for k in ("filename", "fmt", "source", "label_source")},
                "result": job.result or None,
                "error": job.error,
            }
        )
