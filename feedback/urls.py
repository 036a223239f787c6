from django.urls import path

from feedback import views

app_name = "feedback"
urlpatterns = [
    path("calibration/", views.calibration, name="calibration"),
    path("calibration/draft/", views.calibration_draft, name="calibration-draft"),
]
