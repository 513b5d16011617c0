from django.urls import path

from custody.guests import views

app_name = "desk"
urlpatterns = [
    path("", views.today, name="today"),
    path("check-in/", views.check_in, name="check_in"),
    path("lookup/", views.lookup, name="lookup"),
    path("stays/<uuid:stay_id>/", views.stay_detail, name="stay"),
    path("stays/<uuid:stay_id>/unmask/", views.unmask, name="unmask"),
    path("stays/<uuid:stay_id>/arrive/", views.arrive, name="arrive"),
    path("stays/<uuid:stay_id>/edit/", views.edit_contact, name="edit"),
    path("stays/<uuid:stay_id>/check-out/", views.check_out, name="check_out"),
]
