"""PIPL: the audit log shows mobile numbers masked (138****5678). Rows written before
that (an owner's username was their number; person and staff edits recorded the number)
are masked in place: the fact of the change stays, the number goes."""

import json
import re

from django.db import migrations

MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def _mask(text: str) -> str:
    return MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def mask_audit_rows(apps, schema_editor):
    AuditEvent = apps.get_model("core", "AuditEvent")
    rows = AuditEvent.objects.only("object_repr", "summary", "changes")
    for event in rows.iterator():
        changes = json.dumps(event.changes, ensure_ascii=False)
        masked = (_mask(event.object_repr), _mask(event.summary), _mask(changes))
        if masked != (event.object_repr, event.summary, changes):
            AuditEvent.objects.filter(pk=event.pk).update(
                object_repr=masked[0], summary=masked[1], changes=json.loads(masked[2]))


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0002_import_job"),
    ]

    operations = [
        migrations.RunPython(mask_audit_rows, migrations.RunPython.noop, elidable=False),
    ]
