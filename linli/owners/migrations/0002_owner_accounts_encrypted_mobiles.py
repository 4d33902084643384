"""PIPL: no mobile number in plain text. Owners get an ``OwnerAccount`` holding their
number encrypted (with its blind index) and a random username instead of the number;
codes and wrong-password rows keep only the number's blind index; home binding requests
keep the number encrypted."""

import re
import secrets

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import linli.core.fields

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def forwards(apps, schema_editor):
    from linli.core.crypto import encrypt_text, mobile_index

    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    StaffMember = apps.get_model("staff", "StaffMember")
    OwnerAccount = apps.get_model("owners", "OwnerAccount")
    staff_ids = set(StaffMember.objects.values_list("user_id", flat=True))
    owners = User.objects.filter(is_staff=False, is_superuser=False).exclude(pk__in=staff_ids)
    for user in owners.iterator():
        if not MOBILE_RE.match(user.username):
            continue
        mobile = user.username
        OwnerAccount.objects.create(user_id=user.pk, mobile=encrypt_text(mobile),
                                    mobile_index=mobile_index(mobile))
        User.objects.filter(pk=user.pk).update(username=f"owner-{secrets.token_hex(8)}")
    for model in ("VerificationCode", "PasswordFailure"):
        rows = apps.get_model("owners", model).objects
        for pk, mobile in rows.values_list("pk", "mobile").iterator():
            rows.filter(pk=pk).update(mobile_index=mobile_index(mobile))
    requests = apps.get_model("owners", "BindingRequest").objects
    for pk, mobile in requests.values_list("pk", "mobile").iterator():
        requests.filter(pk=pk).update(mobile=encrypt_text(mobile),
                                      mobile_index=mobile_index(mobile))


class Migration(migrations.Migration):

    dependencies = [
        ("owners", "0001_initial"),
        ("staff", "0001_initial"),
        ("estate", "0002_person_mobile_encrypted"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="OwnerAccount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("mobile", models.TextField(verbose_name="mobile")),
                ("mobile_index", models.CharField(editable=False, max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("user", models.OneToOneField(
                    on_delete=django.db.models.deletion.CASCADE, related_name="owner_account",
                    to=settings.AUTH_USER_MODEL, verbose_name="owner account")),
            ],
            options={"verbose_name": "owner account", "verbose_name_plural": "owner accounts"},
        ),
        migrations.AddField(
            model_name="verificationcode", name="mobile_index",
            field=models.CharField(default="", max_length=64), preserve_default=False,
        ),
        migrations.AddField(
            model_name="passwordfailure", name="mobile_index",
            field=models.CharField(default="", max_length=64), preserve_default=False,
        ),
        migrations.AddField(
            model_name="bindingrequest", name="mobile_index",
            field=models.CharField(db_index=True, default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="bindingrequest", name="mobile",
            field=models.TextField(verbose_name="mobile"),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False),
        migrations.RemoveIndex(model_name="verificationcode", name="owners_code_mobile_idx"),
        migrations.RemoveIndex(model_name="passwordfailure", name="owners_pwfail_pair_idx"),
        migrations.RemoveField(model_name="verificationcode", name="mobile"),
        migrations.RemoveField(model_name="passwordfailure", name="mobile"),
        migrations.AddIndex(
            model_name="verificationcode",
            index=models.Index(fields=["mobile_index", "created_at"], name="owners_code_index_idx"),
        ),
        migrations.AddIndex(
            model_name="passwordfailure",
            index=models.Index(fields=["mobile_index", "ip", "at"], name="owners_pwfail_idx_idx"),
        ),
        migrations.AlterField(
            model_name="owneraccount", name="mobile",
            field=linli.core.fields.EncryptedMobileField(verbose_name="mobile"),
        ),
        migrations.AlterField(
            model_name="bindingrequest", name="mobile",
            field=linli.core.fields.EncryptedMobileField(verbose_name="mobile"),
        ),
    ]
