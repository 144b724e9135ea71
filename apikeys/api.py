"""The API keys endpoints: thin views over apikeys.services and selectors. They take the
login token or the session only: an API key cannot create or revoke keys."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys import selectors, services
from apikeys.models import LABEL_LENGTH, Scope
from apikeys.services import MAX_ALLOWED_IPS
from apikit.caller import caller, caller_id
from apikit.schema import error_responses


@extend_schema_serializer(component_name="ApiKey")
class ApiKeySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    # a field named "label" (the stubs type Field.label, a field's own caption, as text)
    label = serializers.CharField()  # type: ignore[assignment]
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.values))
    api_key = serializers.CharField(help_text="Sent as the X-MBX-APIKEY header.")
    allowed_ips = serializers.ListField(
        child=serializers.CharField(), help_text="Networks in CIDR notation; empty: any."
    )
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(component_name="ApiKeyCreated")
class ApiKeyCreatedSerializer(ApiKeySerializer):
    secret = serializers.CharField(help_text="Shown this once: only its encryption is kept.")


class ApiKeyCollectionApi(APIView):
    """POST creates a key (its secret in this one reply), GET lists the caller's keys."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]

    @extend_schema_serializer(component_name="ApiKeyInput")
    class InputSerializer(serializers.Serializer):
        label = serializers.CharField(max_length=LABEL_LENGTH)  # type: ignore[assignment]
        scopes = serializers.ListField(
            child=serializers.ChoiceField(choices=Scope.values), min_length=1, max_length=10
        )
        allowed_ips = serializers.ListField(
            child=serializers.CharField(max_length=43),
            max_length=MAX_ALLOWED_IPS,
            required=False,
            default=list,
            help_text="Addresses or networks (CIDR) the key may be used from; none: any.",
        )

    @extend_schema(
        operation_id="v1_api_keys_create",
        request=InputSerializer,
        responses={201: ApiKeyCreatedSerializer, **error_responses(400, 401, 403, 409, 429)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = services.api_key_create(user=caller(request), **data.validated_data)
        body = {**ApiKeySerializer(key).data, "secret": secret}  # ApiKeyCreatedSerializer
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="v1_api_keys_list",
        responses={200: ApiKeySerializer(many=True), **error_responses(401, 429)},
    )
    def get(self, request: Request) -> Response:
        keys = selectors.api_key_list(user_id=caller_id(request))
        return Response(ApiKeySerializer(keys, many=True).data)


class ApiKeyDetailApi(APIView):
    """DELETE revokes one of the caller's keys."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]

    @extend_schema(
        operation_id="v1_api_keys_revoke",
        responses={204: None, **error_responses(401, 403, 404, 429)},
    )
    def delete(self, request: Request, key_id: int) -> Response:
        services.api_key_revoke(user_id=caller_id(request), key_id=key_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
