from django.urls import path

from custody.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("two-factor/", views.verify, name="verify"),
    path("two-factor/setup/", views.setup_two_factor, name="setup_two_factor"),
    path("two-factor/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("password/", views.password_change, name="password_change"),
    path("me/", views.profile, name="profile"),
    path("invitation/<str:token>/", views.accept_invitation, name="accept_invitation"),
]
