from django.contrib import admin

from kezekshi.core.models import (
    AcademicYear,
    CalendarDay,
    Lesson,
    Region,
    School,
    Shift,
    SmsMessage,
    Vacation,
)


class ShiftInline(admin.TabularInline):
    model = Shift
    extra = 0


class AcademicYearInline(admin.TabularInline):
    model = AcademicYear
    extra = 0


class VacationInline(admin.TabularInline):
    model = Vacation
    extra = 0


@admin.register(School)
class SchoolAdmin(admin.ModelAdmin):
    list_display = ["name_kk", "name_ru", "bin", "region", "district", "kind", "is_active"]
    list_filter = ["region", "kind", "ownership", "is_active"]
    search_fields = ["name_kk", "name_ru", "name_en", "bin"]
    inlines = [ShiftInline, AcademicYearInline, VacationInline]


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ["school", "shift", "number", "starts_at", "ends_at"]
    list_filter = ["school"]


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name_kk", "name_ru", "code"]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name_kk", "name_ru"]
    list_filter = ["kind"]
    date_hierarchy = "date"


@admin.register(SmsMessage)
class SmsMessageAdmin(admin.ModelAdmin):
    list_display = ["phone", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["phone"]
    readonly_fields = ["phone", "text", "status", "provider_id", "error", "created_at"]
