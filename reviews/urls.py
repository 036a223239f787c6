from django.urls import path

from reviews import views

app_name = "reviews"
urlpatterns = [
    path("", views.my_queues, name="queues"),
    path("queues/<slug:slug>/", views.queue_detail, name="queue"),
    path("queues/<slug:slug>/next/", views.claim_next, name="claim-next"),
    path("cases/<uuid:case_id>/", views.review_page, name="case"),
    path("cases/<uuid:case_id>/decide/", views.decide, name="decide"),
    path("cases/<uuid:case_id>/release/", views.release, name="release"),
    path("cases/<uuid:case_id>/diff/", views.diff_preview, name="diff"),
    path("entries/<int:entry_id>/reassign/", views.reassign, name="reassign"),
    path("history/", views.history, name="history"),
    path("notifications/read/", views.notifications_read, name="notifications-read"),
    path("compliance/", views.compliance_home, name="compliance"),
    path("compliance/export/", views.compliance_export, name="compliance-export"),
    path("compliance/cases/<uuid:case_id>/", views.case_story, name="story"),
]
