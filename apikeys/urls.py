from django.urls import path

from apikeys import api

urlpatterns = [
    path("api-keys", api.ApiKeyCollectionApi.as_view(), name="api-keys"),
    path("api-keys/<int:key_id>", api.ApiKeyDetailApi.as_view(), name="api-key-detail"),
]
