from django.urls import path

from reviews.api import views

urlpatterns = [
    path("queues/<slug:slug>/claim/", views.QueueClaimView.as_view(), name="queue-claim"),
    path("cases/<uuid:case_id>/release/", views.CaseReleaseView.as_view(), name="case-release"),
    path("cases/<uuid:case_id>/decision/", views.CaseDecisionView.as_view(), name="case-decision"),
    path("reviews/cases/<uuid:case_id>/", views.ReviewCaseView.as_view(), name="review-case"),
]
