from django.urls import path

from routing.api import views

urlpatterns = [
    path("policies/", views.PolicyListView.as_view(), name="policy-list"),
    path("policies/<int:version_id>/", views.PolicyDetailView.as_view(), name="policy-detail"),
    path(
        "policies/<int:version_id>/publish/",
        views.PolicyPublishView.as_view(),
        name="policy-publish",
    ),
    path(
        "policies/<int:version_id>/simulate",
        views.PolicySimulateView.as_view(),
        name="policy-simulate",
    ),
    path(
        "policies/<int:version_id>/simulate/",
        views.PolicySimulateSlashView.as_view(),
        name="policy-simulate-slash",
    ),
    path("queues/", views.QueueListView.as_view(), name="queue-list"),
]
