"""The REST API: every app's endpoints under /api/, its OpenAPI schema and docs,
and API tokens."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from radreview import api_auth, api_docs

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", api_docs.api_docs, name="api_docs"),
    path("auth/token/", api_auth.ObtainTokenApi.as_view(), name="api_token_obtain"),
    path("auth/tokens/", api_auth.IssueTokenApi.as_view(), name="api_token_issue"),
    path("", include("annotations.api_urls")),
    path("", include("inference.api_urls")),
    path("", include("review.api_urls")),
    path("", include("analytics.api_urls")),
]
