"""The canteen's staff pages, mounted at ``/canteen/``."""

from django.urls import path

from kezekshi.canteen import (
    free_meal_views,
    menu_views,
    pos_views,
    report_views,
    views,
    wallet_views,
)

app_name = "canteen"
urlpatterns = [
    path("reconciliations/", views.reconciliations, name="reconciliations"),
    path(
        "reconciliations/<int:reconciliation_id>/",
        views.reconciliation,
        name="reconciliation",
    ),
    # Pupils' wallets: balances, statements, overdrafts.
    path("wallets/", wallet_views.wallets, name="wallets"),
    path("wallets/<int:pupil_id>/", wallet_views.wallet, name="wallet"),
    # The till (cashier's page).
    path("till/", pos_views.till, name="till"),
    path("till/sell/", pos_views.sell, name="till_sell"),
    path("till/sales/<int:sale_id>/void/", pos_views.void, name="till_void"),
    path("till/sales/<int:sale_id>/refund/", pos_views.refund, name="till_refund"),
    path("people/<int:person_id>/photo/", pos_views.pupil_photo, name="pupil_photo"),
    # Dishes and menus.
    path("dishes/", menu_views.dishes, name="dishes"),
    path("dishes/<int:dish_id>/", menu_views.dish, name="dish"),
    path("dishes/categories/", menu_views.add_category, name="add_category"),
    path("dishes/<int:dish_id>/photo/", menu_views.dish_photo, name="dish_photo"),
    path("menu/", menu_views.week, name="menu"),
    path("menu/day/", menu_views.day, name="menu_day"),
    path("ratings/", menu_views.ratings, name="ratings"),
    # Free meals and the school's canteen settings.
    path("free-meals/", free_meal_views.entitlements, name="free_meals"),
    path(
        "free-meals/<int:entitlement_id>/decide/",
        free_meal_views.decide,
        name="free_meal_decide",
    ),
    path("free-meals/report/", free_meal_views.report, name="free_meal_report"),
    path("free-meals/report.csv", free_meal_views.report_csv, name="free_meal_report_csv"),
    path("free-meals/report.xlsx", free_meal_views.report_xlsx, name="free_meal_report_xlsx"),
    path("settings/", free_meal_views.canteen_settings, name="settings"),
    # Reports (docs/canteen-reports.md); each page also as CSV and XLSX.
    path("reports/", report_views.index, name="reports"),
    *report_views.pages("reports/sales", report_views.sales, "report_sales"),
    *report_views.pages("reports/shift", report_views.shift, "report_shift"),
    *report_views.pages("reports/balances", report_views.balances, "report_balances"),
    *report_views.pages("reports/topups", report_views.topups, "report_topups"),
    *report_views.pages("reports/offline", report_views.offline, "report_offline"),
    *report_views.pages("till/shift", report_views.my_shift, "till_shift"),
]
