"""Voided receipts (作废): a new record linked to the receipt, append-only at the database
like receipts (PostgreSQL: the ledger's trigger function; SQLite: triggers refusing
unless the connection opened the switch). Receipts of payments already taken back (a
reversed run's prepaid offsets) are voided now."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


TABLE = "receipts_receiptvoid"

SQLITE_TRIGGER = """
CREATE TRIGGER {table}_append_only_{op} BEFORE {OP} ON {table}
FOR EACH ROW WHEN NOT EXISTS (
    SELECT 1 FROM pragma_table_info('linli_append_only_unlocked', 'temp'))
BEGIN
    SELECT RAISE(ABORT, 'append-only: {OP} on {table} refused');
END
"""


def append_only(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION linli_ledger_append_only()")
    elif vendor == "sqlite":
        for op in ("update", "delete"):
            schema_editor.execute(SQLITE_TRIGGER.format(table=TABLE, op=op, OP=op.upper()),
                                  params=None)


def append_only_undo(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    elif vendor == "sqlite":
        for op in ("update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only_{op}")


def void_reversed(apps, schema_editor):
    Receipt = apps.get_model("receipts", "Receipt")
    ReceiptVoid = apps.get_model("receipts", "ReceiptVoid")
    PaymentReversal = apps.get_model("payments", "PaymentReversal")
    for reversal in PaymentReversal.objects.order_by("pk"):
        receipt = Receipt.objects.filter(payment_id=reversal.payment_id).first()
        if receipt is None or ReceiptVoid.objects.filter(receipt=receipt).exists():
            continue
        ReceiptVoid.objects.create(receipt=receipt, community_id=receipt.community_id,
                                   payment_reversal=reversal, reason=reversal.reason,
                                   voided_at=reversal.at, voided_by_id=reversal.by_id)


class Migration(migrations.Migration):

    dependencies = [
        ('estate', '0001_initial'),
        ('payments', '0009_shift_lines_and_topup_label'),
        ('receipts', '0005_sqlite_append_only_trigger'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ReceiptVoid',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('reason', models.CharField(max_length=200, verbose_name='reason')),
                ('voided_at', models.DateTimeField(verbose_name='voided')),
                ('community', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='estate.community', verbose_name='community')),
                ('payment_reversal', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='receipt_void', to='payments.paymentreversal', verbose_name='payment reversal')),
                ('receipt', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='void', to='receipts.receipt', verbose_name='receipt')),
                ('voided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='voided by')),
            ],
            options={
                'verbose_name': 'receipt void',
                'verbose_name_plural': 'receipt voids',
                'ordering': ['-voided_at', '-id'],
            },
        ),
        migrations.RunPython(append_only, append_only_undo),
        migrations.RunPython(void_reversed, migrations.RunPython.noop),
    ]
