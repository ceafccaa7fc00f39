from django.contrib import admin

from kezekshi.people.models import Guardian, Guardianship, Person, Pupil, SchoolClass, StaffMember


@admin.register(SchoolClass)
class SchoolClassAdmin(admin.ModelAdmin):
    list_display = ["__str__", "school", "shift", "language", "class_teacher"]
    list_filter = ["school", "grade", "shift"]


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["full_name", "school", "birth_date", "sex"]
    list_filter = ["school"]
    search_fields = ["last_name", "first_name", "phone"]
    exclude = ["iin_digest"]


@admin.register(Pupil)
class PupilAdmin(admin.ModelAdmin):
    list_display = ["__str__", "school", "school_class", "account_number", "is_active"]
    list_filter = ["school", "is_active"]
    search_fields = ["account_number", "person__last_name"]
    raw_id_fields = ["person", "school_class"]


@admin.register(StaffMember)
class StaffMemberAdmin(admin.ModelAdmin):
    list_display = ["__str__", "school", "position", "is_active"]
    list_filter = ["school"]
    raw_id_fields = ["person"]


@admin.register(Guardian)
class GuardianAdmin(admin.ModelAdmin):
    list_display = ["__str__", "school"]
    raw_id_fields = ["person"]


@admin.register(Guardianship)
class GuardianshipAdmin(admin.ModelAdmin):
    list_display = ["__str__", "relation", "is_legal_representative", "may_pick_up"]
    raw_id_fields = ["guardian", "pupil"]
