from django.urls import path

from metrics.api import views

urlpatterns = [
    path("metrics/summary", views.MetricsSummaryView.as_view(), name="metrics-summary"),
]
