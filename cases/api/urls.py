from django.urls import path

from cases.api import audit, views

urlpatterns = [
    path("cases/", views.CaseCollectionView.as_view(), name="case-list"),
    path("cases/bulk/", views.CaseBulkView.as_view(), name="case-bulk"),
    path("cases/<uuid:case_id>/", views.CaseDetailView.as_view(), name="case-detail"),
    path("case-types/", views.CaseTypeListView.as_view(), name="casetype-list"),
    path("case-types/<slug:slug>/", views.CaseTypeDetailView.as_view(), name="casetype-detail"),
    path("audit/export", audit.AuditExportView.as_view(), name="audit-export"),
]
