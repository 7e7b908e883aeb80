"""URLs of the test project."""

from django.urls import path

from . import views

urlpatterns = [
    path("hello", views.hello),
    path("boom", views.boom),
    path("order", views.order),
    path("login", views.signin),
    path("logout", views.signout),
    path("me", views.me),
]
