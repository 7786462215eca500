from django.urls import path

from contacts import views

urlpatterns = [
    path("join/<slug:slug>/", views.join, name="join"),
    path("join/<slug:slug>/sent/", views.join_sent, name="join-sent"),
]
