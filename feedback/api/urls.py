from django.urls import path

from feedback.api import views

urlpatterns = [
    path("feedback/export", views.FeedbackExportView.as_view(), name="feedback-export"),
    path("feedback/calibration", views.CalibrationView.as_view(), name="feedback-calibration"),
]
