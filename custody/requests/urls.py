from django.urls import path

from custody.requests import grant_views, policy_views, views

app_name = "requests"
urlpatterns = [
    path("", views.mine, name="mine"),
    path("queue/", views.queue, name="queue"),
    path("new/", views.new, name="new"),
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/edit/", views.edit, name="edit"),
    path("<uuid:pk>/submit/", views.submit, name="submit"),
    path("<uuid:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("<uuid:pk>/answer/", views.answer, name="answer"),
    path("<uuid:pk>/fulfil/", views.fulfil, name="fulfil"),
    path("<uuid:pk>/review/", views.start_review, name="start_review"),
    path("<uuid:pk>/approve/", views.approve, name="approve"),
    path("<uuid:pk>/deny/", views.deny, name="deny"),
    path("<uuid:pk>/ask/", views.ask, name="ask"),
    path("<uuid:pk>/instrument/", views.instrument, name="instrument"),
    path("<uuid:pk>/application.pdf", views.form_pdf, name="form_pdf"),
    path("<uuid:pk>/decision.pdf", views.decision_pdf, name="decision_pdf"),
    path("grants/", grant_views.grant_list, name="grants"),
    path("grants/<uuid:pk>/", grant_views.grant_detail, name="grant"),
    path("grants/<uuid:pk>/use/", grant_views.use, name="use_grant"),
    path("grants/<uuid:pk>/revoke/", grant_views.revoke, name="revoke_grant"),
    path("emergency/", grant_views.break_glass, name="break_glass"),
    path("emergency/reviews/", grant_views.break_glass_reviews, name="break_glass_reviews"),
    path("emergency/<uuid:pk>/review/", grant_views.review_break_glass, name="review_break_glass"),
    path("policy/", policy_views.policy, name="policy"),
    path("policy/<slug:request_type>/<slug:sensitivity>/", policy_views.policy_edit, name="policy_edit"),
]
