from django.urls import path

from orders import api

urlpatterns = [
    path("orders", api.OrderCollectionApi.as_view(), name="orders"),
    path("orders/<int:order_id>", api.OrderDetailApi.as_view(), name="order-detail"),
    path("order-lists", api.OrderListCollectionApi.as_view(), name="order-lists"),
    path("order-lists/<int:list_id>", api.OrderListDetailApi.as_view(), name="order-list-detail"),
    path("trades", api.FillListApi.as_view(), name="fills"),
]
