"""Owner portal (H5) pages, under /m/."""

from django.urls import path

from linli.portal import views, views_pay

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("bills/", views.bills, name="bills"),
    path("bills/<int:pk>/", views.bill, name="bill"),
    path("pay/<int:unit_id>/", views_pay.pay, name="pay"),
    path("topup/<int:unit_id>/", views_pay.topup, name="topup"),
    path("orders/<int:pk>/", views_pay.order, name="order"),
    path("orders/<int:pk>/status/", views_pay.order_status, name="order-status"),
    path("orders/<int:pk>/check/", views_pay.order_check, name="order-check"),
    path("orders/return/<str:key>/", views_pay.order_return, name="order-return"),
    path("wechat/oauth/", views_pay.wechat_oauth_return, name="wechat-oauth"),
    path("history/", views.history, name="history"),
    path("receipts/<int:pk>/pdf/", views.receipt_pdf_view, name="receipt-pdf"),
    path("me/", views.me, name="me"),
]
