from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from metrics import views as metrics_views

api_v1 = [
    path("", include("cases.api.urls")),
    path("", include("routing.api.urls")),
    path("", include("reviews.api.urls")),
    path("", include("feedback.api.urls")),
    path("", include("metrics.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("feedback/", include("feedback.urls")),
    path("metrics", metrics_views.prometheus_metrics, name="prometheus"),
    path("dashboard/", include("metrics.urls")),
    path("", include("reviews.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
