from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter

from radreview import views
from radreview.bounds import IdConverter

# Before the apps' urls are included: their paths name ids as <id:...>, never
# <int:...>, which matches numbers no database column holds (radreview.bounds).
register_converter(IdConverter, "id")

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("annotations/", include("annotations.urls")),
    path("jobs/", include("jobs.urls")),
    path("models/", include("inference.urls")),
    path("review/", include("review.urls")),
    path("analytics/", include("analytics.urls")),
    path("api/", include("radreview.api_urls")),
]
