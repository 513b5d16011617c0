from django.urls import path

from custody.accounts import staff_views as views

app_name = "staff"
urlpatterns = [
    path("", views.staff_list, name="list"),
    path("new/", views.staff_create, name="create"),
    path("<int:pk>/", views.staff_edit, name="edit"),
    path("<int:pk>/reset-two-factor/", views.staff_reset_two_factor, name="reset_two_factor"),
    path("<int:pk>/active/", views.staff_set_active, name="set_active"),
    path("<int:pk>/invitation/", views.staff_invite, name="invite"),
    path("proposals/", views.role_proposals, name="proposals"),
    path("proposals/<int:pk>/", views.decide_proposal, name="decide_proposal"),
]
