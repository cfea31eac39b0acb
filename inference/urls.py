from django.urls import path

from inference.views import models as model_views
from inference.views import stage2 as stage2_views

app_name = "inference"
urlpatterns: list = [
    # Stage 1 models (admins)
    path("", model_views.model_list, name="model_list"),
    path("runs/", model_views.model_runs, name="model_runs"),
    path("train/", model_views.train_start, name="train_start"),
    path("train/preview/", model_views.train_preview, name="train_preview"),
    path("infer/", model_views.infer_start, name="infer_start"),
    path("<id:pk>/", model_views.model_detail, name="model_detail"),
    path("<id:pk>/promote/", model_views.model_promote_view, name="model_promote"),
    path("<id:pk>/retire/", model_views.model_retire_view, name="model_retire"),
    path("rollback/<slug:code>/", model_views.model_rollback_view, name="model_rollback"),
    # Stage 2 (admins): runs and the LLM configuration
    path("stage2/", stage2_views.stage2_start, name="stage2_start"),
    path("stage2/runs/", stage2_views.stage2_runs_fragment, name="stage2_runs_fragment"),
    path("stage2/count/", stage2_views.stage2_count, name="stage2_count"),
    path("llm/", stage2_views.llm_status, name="llm_status"),
    path("llm/questions/<slug:code>/", stage2_views.llm_question_choose, name="llm_question_choose"),
]
