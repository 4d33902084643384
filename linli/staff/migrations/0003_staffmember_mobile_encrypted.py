"""PIPL: staff members' mobile numbers encrypted at rest."""

from django.db import migrations, models

import linli.core.fields


def encrypt(apps, schema_editor):
    from linli.core.crypto import encrypt_text

    rows = apps.get_model("staff", "StaffMember").objects
    for pk, mobile in rows.exclude(mobile="").values_list("pk", "mobile").iterator():
        rows.filter(pk=pk).update(mobile=encrypt_text(mobile))


def decrypt(apps, schema_editor):
    from linli.core.crypto import decrypt_text

    rows = apps.get_model("staff", "StaffMember").objects
    for pk, token in rows.exclude(mobile="").values_list("pk", "mobile").iterator():
        rows.filter(pk=pk).update(mobile=decrypt_text(token)[:11])


class Migration(migrations.Migration):

    dependencies = [
        ("staff", "0002_signin_policy"),
    ]

    operations = [
        migrations.AlterField(
            model_name="staffmember", name="mobile",
            field=models.TextField(blank=True, verbose_name="mobile"),
        ),
        migrations.RunPython(encrypt, decrypt, elidable=False),
        migrations.AlterField(
            model_name="staffmember", name="mobile",
            field=linli.core.fields.EncryptedMobileField(blank=True, verbose_name="mobile"),
        ),
    ]
