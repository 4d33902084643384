"""Encrypt people's mobile numbers at rest (PIPL): a Fernet token in ``mobile``, a keyed
blind index for exact look-ups and the last four digits for the counter's search."""

from django.db import migrations, models

import linli.core.fields
import linli.core.validators


def encrypt_mobiles(apps, schema_editor):
    from linli.core.crypto import encrypt_text, mobile_index
    from linli.core.validators import normalise_mobile

    Person = apps.get_model("estate", "Person")
    for pk, mobile in Person.objects.exclude(mobile="").values_list("pk", "mobile").iterator():
        mobile = normalise_mobile(mobile)
        Person.objects.filter(pk=pk).update(
            mobile=encrypt_text(mobile), mobile_index=mobile_index(mobile),
            mobile_tail=mobile[-4:])


def decrypt_mobiles(apps, schema_editor):
    from linli.core.crypto import decrypt_text

    Person = apps.get_model("estate", "Person")
    for pk, token in Person.objects.exclude(mobile="").values_list("pk", "mobile").iterator():
        Person.objects.filter(pk=pk).update(mobile=decrypt_text(token)[:11])


class Migration(migrations.Migration):

    dependencies = [
        ("estate", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="person",
            name="mobile_index",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="person",
            name="mobile_tail",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=4),
        ),
        # Plain text first (a Fernet token is longer than 11 characters), then encrypt
        # the rows, then declare the field encrypted (no change in the database).
        migrations.AlterField(
            model_name="person",
            name="mobile",
            field=models.TextField(blank=True, verbose_name="mobile"),
        ),
        migrations.RunPython(encrypt_mobiles, decrypt_mobiles, elidable=False),
        migrations.AlterField(
            model_name="person",
            name="mobile",
            field=linli.core.fields.EncryptedMobileField(
                blank=True, validators=[linli.core.validators.validate_mobile],
                verbose_name="mobile"),
        ),
        migrations.AlterModelOptions(
            name="person",
            options={
                "ordering": ["community_id", "id"],
                "permissions": [("view_person_mobile", "Can see full mobile numbers")],
                "verbose_name": "person", "verbose_name_plural": "people",
            },
        ),
    ]
