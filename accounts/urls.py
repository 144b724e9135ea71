from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/register", api.UserRegisterApi.as_view(), name="auth-register"),
    path("auth/token", api.TokenObtainApi.as_view(), name="auth-token"),
    path("auth/logout", api.LogoutApi.as_view(), name="auth-logout"),
    path("auth/me", api.MeApi.as_view(), name="auth-me"),
    path("balances", api.BalanceListApi.as_view(), name="balances"),
]
