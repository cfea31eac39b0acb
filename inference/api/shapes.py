"""What the stage 2 API answers, for its OpenAPI schema (the views build dicts;
these serializers only describe them, as annotations.api.shapes does)."""

from __future__ import annotations

from rest_framework import serializers


class Stage2PredictionOut(serializers.Serializer):
    id = serializers.IntegerField()
    report = serializers.IntegerField()
    mode = serializers.CharField()
    run_key = serializers.CharField()
    status = serializers.CharField()
    error = serializers.CharField(allow_blank=True)
    llm = serializers.CharField(allow_blank=True)
    prompt_version = serializers.CharField(allow_blank=True)
    stage1_version = serializers.IntegerField(allow_null=True)
    hint = serializers.JSONField(allow_null=True)
    prediction = serializers.JSONField(allow_null=True)
    findings = serializers.ListField(child=serializers.DictField())
    evidence_offsets = serializers.CharField()
    seconds = serializers.FloatField()
    timings = serializers.DictField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    attempts = serializers.IntegerField()
    job = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    llm_info = serializers.DictField(required=False, help_text="with ?full=1 and from POST")
    messages = serializers.ListField(
        child=serializers.JSONField(), required=False, help_text="the exact prompt"
    )
    raw_output = serializers.CharField(required=False, allow_blank=True)


class ReportStage2Out(serializers.Serializer):
    report = serializers.IntegerField()
    predictions = Stage2PredictionOut(many=True)


class Stage2RunOut(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.CharField()
    mode = serializers.CharField(allow_null=True)
    run_key = serializers.CharField(allow_null=True)
    cohort = serializers.JSONField(allow_null=True)
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class Stage2RunsOut(serializers.Serializer):
    results = Stage2RunOut(many=True)


class Stage2StartedOut(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.CharField()
    run_key = serializers.CharField()


class LLMSummaryOut(serializers.Serializer):
    backend = serializers.CharField()
    model = serializers.CharField()
    context_size = serializers.IntegerField()
    threads = serializers.JSONField(help_text='a number, or "auto"')
    constrained = serializers.BooleanField()
    report_timeout_s = serializers.FloatField()
    retries = serializers.IntegerField()
    max_in_flight = serializers.IntegerField(help_text="LLM calls a batch keeps in flight")
    error = serializers.CharField(allow_null=True)
    server_url = serializers.CharField(required=False)
    model_path = serializers.CharField(required=False)
    model_bytes = serializers.IntegerField(required=False)


class LLMTestOut(serializers.Serializer):
    ok = serializers.BooleanField()
    seconds = serializers.FloatField()
    model = serializers.JSONField(required=False)
    reply = serializers.CharField(required=False, allow_blank=True)
    error = serializers.CharField(required=False)


class UnavailableOut(serializers.Serializer):
    detail = serializers.CharField(help_text="what to fix: the LLM is not configured or not reachable")


class Stage2ConflictOut(serializers.Serializer):
    detail = serializers.CharField(help_text="why the data refuses the request now (nothing matches yet)")


# -- stage 1 -----------------------------------------------------------------------------


class ModelVersionOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    modality = serializers.CharField()
    preset = serializers.CharField()
    status = serializers.CharField()
    is_active = serializers.BooleanField()
    label_sources = serializers.JSONField()
    data_counts = serializers.JSONField()
    code_version = serializers.CharField(allow_blank=True)
    heldout_macro_f1 = serializers.FloatField(allow_null=True)
    heldout_report_f1 = serializers.FloatField(allow_null=True)
    n_heldout = serializers.IntegerField(allow_null=True)
    job = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    trained_at = serializers.DateTimeField(allow_null=True)


class ModelVersionsOut(serializers.Serializer):
    results = ModelVersionOut(many=True)


class ModelVersionDetailOut(ModelVersionOut):
    keys = serializers.JSONField()
    thresholds = serializers.JSONField()
    config = serializers.JSONField()
    metrics = serializers.JSONField()
    curves = serializers.JSONField()
    data_snapshot_path = serializers.CharField(allow_blank=True)
    data_snapshot_sha256 = serializers.CharField(allow_blank=True)
    artifact_path = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)


class TrainingStartedOut(serializers.Serializer):
    job = serializers.IntegerField()
    model_version = serializers.IntegerField()
    name = serializers.CharField()
    weak_mode = serializers.CharField(help_text="the weak-label mode the run uses (auto resolved)")
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="gold / weak / approved / total / heldout_excluded"
    )


class TrainingPreviewOut(serializers.Serializer):
    modality = serializers.CharField()
    label_sources = serializers.CharField()
    weak_mode = serializers.CharField(allow_null=True)
    weak_schema_version = serializers.IntegerField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField())
    problem = serializers.CharField(
        allow_null=True, help_text="why the recipe would be refused; null: it may run"
    )


class InferenceStartedOut(serializers.Serializer):
    job = serializers.IntegerField()
    versions = serializers.JSONField(help_text="the model versions the job predicts with")


class PromotionOut(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    model_version = serializers.IntegerField()
    previous = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    overrode_warning = serializers.BooleanField(help_text="promoted although worse than the active version")
    user = serializers.CharField()
    created_at = serializers.DateTimeField()


class HeldoutOut(serializers.Serializer):
    modality = serializers.CharField()
    report_ids = serializers.ListField(child=serializers.IntegerField())
