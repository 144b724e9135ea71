"""Auth and balances endpoints: thin views over accounts.services and selectors."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from apikeys.models import Scope
from apikit.caller import caller, caller_id
from apikit.schema import error_responses
from apikit.throttling import AuthRateThrottle
from marketdata.fields import DecimalText, column_length

# the user table's own column widths: longer text would reach PostgreSQL (a 500)
USERNAME_LENGTH = column_length(get_user_model(), "username")
EMAIL_LENGTH = column_length(get_user_model(), "email")
PASSWORD_LENGTH = 128  # of the password typed (its column holds a fixed-size hash)


class UserRegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthRateThrottle]

    @extend_schema_serializer(component_name="RegisterInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.RegexField(r"^[\w.@+-]+$", max_length=USERNAME_LENGTH)
        password = serializers.CharField(max_length=PASSWORD_LENGTH, write_only=True)
        email = serializers.EmailField(
            max_length=EMAIL_LENGTH, required=False, allow_blank=True, default=""
        )

    @extend_schema_serializer(component_name="RegisterOutput")
    class OutputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()
        username = serializers.CharField()
        token = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 409, 429)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.user_register(**data.validated_data)
        body = {"user_id": user.pk, "username": user.username, "token": token}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


class TokenObtainApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthRateThrottle]

    @extend_schema_serializer(component_name="TokenInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=USERNAME_LENGTH)
        password = serializers.CharField(max_length=PASSWORD_LENGTH, write_only=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            **error_responses(400, 401, 429),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.token_obtain(request=request._request, **data.validated_data)
        return Response({"token": token})


class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None, **error_responses(401, 403, 429)})
    def post(self, request: Request) -> Response:
        services.token_revoke(user=caller(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    """Who the token belongs to (also the cheapest authenticated call: benchmarks use it
    as the HTTP stack's own ceiling)."""

    api_key_scopes = {"GET": Scope.READ}

    @extend_schema(
        responses={
            200: inline_serializer(
                "Me", {"user_id": serializers.IntegerField(), "username": serializers.CharField()}
            ),
            **error_responses(401, 429),
        }
    )
    def get(self, request: Request) -> Response:
        return Response({"user_id": request.user.pk, "username": request.user.get_username()})


class BalanceSerializer(serializers.Serializer):
    asset = serializers.CharField()
    available = DecimalText()
    locked = DecimalText()


class BalanceListApi(APIView):
    api_key_scopes = {"GET": Scope.READ}

    @extend_schema(responses={200: BalanceSerializer(many=True), **error_responses(401, 429)})
    def get(self, request: Request) -> Response:
        return Response(selectors.balance_list(user_id=caller_id(request)))
