"""The regions of Kazakhstan (17 oblasts, 3 cities of republican significance)."""

from django.db import migrations

REGIONS = [
    ("astana", "Астана қаласы", "город Астана", "Astana city"),
    ("almaty-city", "Алматы қаласы", "город Алматы", "Almaty city"),
    ("shymkent", "Шымкент қаласы", "город Шымкент", "Shymkent city"),
    ("abai", "Абай облысы", "область Абай", "Abai Region"),
    ("akmola", "Ақмола облысы", "Акмолинская область", "Akmola Region"),
    ("aktobe", "Ақтөбе облысы", "Актюбинская область", "Aktobe Region"),
    ("almaty", "Алматы облысы", "Алматинская область", "Almaty Region"),
    ("atyrau", "Атырау облысы", "Атырауская область", "Atyrau Region"),
    ("east-kazakhstan", "Шығыс Қазақстан облысы", "Восточно-Казахстанская область", "East Kazakhstan Region"),
    ("zhambyl", "Жамбыл облысы", "Жамбылская область", "Zhambyl Region"),
    ("zhetysu", "Жетісу облысы", "область Жетісу", "Zhetysu Region"),
    ("west-kazakhstan", "Батыс Қазақстан облысы", "Западно-Казахстанская область", "West Kazakhstan Region"),
    ("karaganda", "Қарағанды облысы", "Карагандинская область", "Karaganda Region"),
    ("kostanay", "Қостанай облысы", "Костанайская область", "Kostanay Region"),
    ("kyzylorda", "Қызылорда облысы", "Кызылординская область", "Kyzylorda Region"),
    ("mangystau", "Маңғыстау облысы", "Мангистауская область", "Mangystau Region"),
    ("pavlodar", "Павлодар облысы", "Павлодарская область", "Pavlodar Region"),
    ("north-kazakhstan", "Солтүстік Қазақстан облысы", "Северо-Казахстанская область", "North Kazakhstan Region"),
    ("turkistan", "Түркістан облысы", "Туркестанская область", "Turkistan Region"),
    ("ulytau", "Ұлытау облысы", "область Ұлытау", "Ulytau Region"),
]


def add_regions(apps, schema_editor):
    Region = apps.get_model("core", "Region")
    for code, kk, ru, en in REGIONS:
        Region.objects.update_or_create(
            code=code, defaults={"name_kk": kk, "name_ru": ru, "name_en": en}
        )


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(add_regions, migrations.RunPython.noop)]
