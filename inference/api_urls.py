"""REST endpoints of this app, mounted under /api/ by radreview.api_urls."""

from django.urls import path

from inference.api import stage1, stage2

urlpatterns: list = [
    path("stage1/models/", stage1.ModelVersionListApi.as_view(), name="api_stage1_models"),
    path("stage1/models/<id:pk>/", stage1.ModelVersionDetailApi.as_view(), name="api_stage1_model"),
    path("stage1/models/<id:pk>/promote/", stage1.PromoteApi.as_view(), name="api_stage1_promote"),
    path("stage1/rollback/", stage1.RollbackApi.as_view(), name="api_stage1_rollback"),
    path("stage1/compare/", stage1.CompareApi.as_view(), name="api_stage1_compare"),
    path("stage1/heldout/", stage1.HeldoutApi.as_view(), name="api_stage1_heldout"),
    path("stage1/training-runs/", stage1.TrainingRunApi.as_view(), name="api_stage1_training_runs"),
    path("stage1/training-preview/", stage1.TrainingPreviewApi.as_view(), name="api_stage1_training_preview"),
    path("stage1/inference-runs/", stage1.InferenceRunApi.as_view(), name="api_stage1_inference_runs"),
    path("reports/<id:pk>/stage1/", stage1.ReportStage1Api.as_view(), name="api_report_stage1"),
    path("stage2/runs/", stage2.Stage2RunApi.as_view(), name="api_stage2_runs"),
    path("stage2/llm/", stage2.LLMStatusApi.as_view(), name="api_stage2_llm"),
    path("stage2/llm/test/", stage2.LLMTestApi.as_view(), name="api_stage2_llm_test"),
    path("reports/<id:pk>/stage2/", stage2.ReportStage2Api.as_view(), name="api_report_stage2"),
]
