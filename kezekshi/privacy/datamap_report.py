"""The data map as the data-protection officer reads it: per category, and as JSON or CSV.

Labels come out in the active language; codes (category, purpose, "app.Model.field")
stay the same in every language so that an export can be compared with the next one.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from kezekshi.core.crypto import EncryptedTextField
from kezekshi.privacy.datamap import (
    DATA_MAP,
    OUTSIDE_OUR_APPS,
    RESTRICTED_PURPOSES,
    RETENTION_DEFAULTS,
    RETENTION_RULES,
    DataCategory,
    DataMap,
    FieldTag,
    OutsideStore,
    Purpose,
    Subject,
    Use,
    retention_setting,
)


@dataclass
class FieldRow:
    tag: FieldTag
    model_label: str
    field_label: str
    encrypted: bool
    retention: list[str]  # every rule that applies to the field, its category's included

    @property
    def subject_labels(self) -> list[str]:
        return [str(subject.label) for subject in self.tag.subjects]


@dataclass
class CategorySection:
    category: DataCategory
    fields: list[FieldRow]
    uses: list[Use]
    purposes: list[Purpose]
    retention: list[str]  # rules for the category as a whole
    allowed_purposes: list[Purpose] | None  # None: no restriction beyond the uses
    kept_unused: str | None
    outside: list[OutsideStore] = field(default_factory=list)

    @property
    def uses_by_purpose(self) -> list[tuple[Purpose, list[Use]]]:
        return [(p, [u for u in self.uses if u.purpose == p]) for p in self.purposes]


def _labels(tag: FieldTag) -> tuple[str, str, bool]:
    """The model's and the field's verbose names, and whether the column is encrypted."""
    try:
        model_field: Any = apps.get_model(tag.model)._meta.get_field(tag.field)
    except (LookupError, FieldDoesNotExist):
        return tag.model, tag.field, False
    return (
        capfirst(str(model_field.model._meta.verbose_name)),
        capfirst(str(getattr(model_field, "verbose_name", tag.field))),
        isinstance(model_field, EncryptedTextField),
    )


def field_rows(data_map: DataMap = DATA_MAP, *, personal_only: bool = True) -> list[FieldRow]:
    rows = []
    for tag in data_map.tags.values():
        if personal_only and tag.category is None:
            continue
        model_label, field_label, encrypted = _labels(tag)
        retention = [rule.describe() for rule in RETENTION_RULES if rule.applies_to(tag)]
        rows.append(FieldRow(tag, model_label, field_label, encrypted, retention))
    return rows


def sections(data_map: DataMap = DATA_MAP) -> list[CategorySection]:
    """One section per category, in the order of ``DataCategory``, held or not."""
    rows = field_rows(data_map)
    result = []
    for category in DataCategory:
        allowed = RESTRICTED_PURPOSES.get(category)
        kept = data_map.kept_unused.get(category)
        result.append(
            CategorySection(
                category=category,
                fields=[row for row in rows if row.tag.category == category],
                uses=data_map.uses_of(category),
                purposes=data_map.purposes_of(category),
                retention=[r.describe() for r in RETENTION_RULES if category in r.categories],
                allowed_purposes=[p for p in Purpose if p in allowed] if allowed else None,
                kept_unused=str(kept.reason) if kept else None,
                outside=[store for store in OUTSIDE_OUR_APPS if category in store.categories],
            )
        )
    return result


def purpose_table(data_map: DataMap = DATA_MAP) -> list[tuple[Purpose, list[Use]]]:
    """Each purpose with the uses that serve it (an empty list: not used)."""
    return [(purpose, [u for u in data_map.uses if u.purpose == purpose]) for purpose in Purpose]


def _use_json(use: Use) -> dict[str, Any]:
    return {
        "feature": use.feature,
        "label": str(use.label),
        "purpose": use.purpose.value,
        "categories": [category.value for category in use.category_list],
    }


def _row_json(row: FieldRow) -> dict[str, Any]:
    return {
        "field": row.tag.key,
        "model_label": row.model_label,
        "field_label": row.field_label,
        "subjects": [subject.value for subject in row.tag.subjects],
        "encrypted": row.encrypted,
        "retention": row.retention,
    }


def as_dict(data_map: DataMap = DATA_MAP) -> dict[str, Any]:
    """The whole map: categories with their fields and uses, purposes, non-personal fields."""
    return {
        "generated_at": timezone.now().isoformat(),
        "language": get_language(),
        "retention_settings": {name: retention_setting(name) for name in RETENTION_DEFAULTS},
        "subjects": [{"code": s.value, "label": str(s.label)} for s in Subject],
        "categories": [
            {
                "code": section.category.value,
                "label": str(section.category.label),
                "held": bool(section.fields),
                "purposes": [p.value for p in section.purposes],
                "uses": [u.feature for u in section.uses],
                "allowed_purposes": (
                    [p.value for p in section.allowed_purposes]
                    if section.allowed_purposes is not None
                    else None
                ),
                "kept_unused": section.kept_unused,
                "retention": section.retention,
                "fields": [_row_json(row) for row in section.fields],
                "outside_our_apps": [store.model for store in section.outside],
            }
            for section in sections(data_map)
        ],
        "purposes": [
            {
                "code": purpose.value,
                "label": str(purpose.label),
                "uses": [_use_json(u) for u in uses],
            }
            for purpose, uses in purpose_table(data_map)
        ],
        "not_personal": [tag.key for tag in data_map.tags.values() if tag.category is None],
        "outside_our_apps": [
            {
                "model": store.model,
                "categories": [c.value for c in store.categories],
                "note": str(store.note),
            }
            for store in OUTSIDE_OUR_APPS
        ],
    }


def export_json(data_map: DataMap = DATA_MAP) -> bytes:
    return json.dumps(as_dict(data_map), ensure_ascii=False, indent=2).encode()


def export_csv(data_map: DataMap = DATA_MAP) -> bytes:
    """Every tagged field, personal or not, one a row (UTF-8 with a BOM, «;», as people's CSV)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(
        [
            _("Field"),
            _("Model"),
            _("Field name"),
            _("Category code"),
            _("Category"),
            _("Whose data"),
            _("Purposes"),
            _("Retention"),
            _("Encrypted"),
        ]
    )
    for row in field_rows(data_map, personal_only=False):
        category = row.tag.category
        purposes = data_map.purposes_of(category) if category else []
        writer.writerow(
            [
                row.tag.key,
                row.model_label,
                row.field_label,
                category.value if category else "",
                category.label if category else _("Not personal"),
                ", ".join(row.subject_labels),
                ", ".join(str(p.label) for p in purposes),
                " ".join(row.retention),
                _("yes") if row.encrypted else "",
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
