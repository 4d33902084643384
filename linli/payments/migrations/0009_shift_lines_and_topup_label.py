"""Anomalies say how money they owed was paid back (the cashier's handover sheet lists
cash and transfers); the prepaid movement "deposit" reads as a top-up (预存), not a
security deposit (押金)."""

from django.db import migrations, models


CASH, BANK = "1001", "1002"  # ledger.chart: 库存现金, 银行存款


def backfill_resolution_channel(apps, schema_editor):
    """Anomalies recovered before this field: the channel their resolution posted to."""
    PaymentAnomaly = apps.get_model("payments", "PaymentAnomaly")
    JournalLine = apps.get_model("ledger", "JournalLine")
    PaymentAnomaly.objects.filter(resolution="recover_prepaid").update(
        resolution_channel="prepaid")
    for anomaly in PaymentAnomaly.objects.filter(resolution="recovered_counter",
                                                 resolution_channel=""):
        accounts = set(JournalLine.objects.filter(
            entry__business_key=f"anomaly_resolve:{anomaly.pk}").values_list("account",
                                                                             flat=True))
        channel = "cash" if CASH in accounts else "transfer" if BANK in accounts else ""
        if channel:
            PaymentAnomaly.objects.filter(pk=anomaly.pk).update(resolution_channel=channel)


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0008_notify_limits'),
        ('ledger', '0009_sqlite_append_only_triggers'),
    ]

    operations = [
        migrations.AddField(
            model_name='paymentanomaly',
            name='resolution_channel',
            field=models.CharField(blank=True, choices=[('cash', 'Cash'), ('pos', 'POS card'), ('transfer', 'Bank transfer'), ('cheque', 'Cheque'), ('prepaid', 'Prepaid balance'), ('wechat', 'WeChat Pay'), ('alipay', 'Alipay'), ('sandbox', 'Sandbox (not real money)'), ('suspense', 'Held money applied by staff')], help_text="How money owed back was recovered (cash or transfer at the counter, or the prepaid balance): the cashier's handover sheet lists it.", max_length=16, verbose_name='paid back by'),
        ),
        migrations.AlterField(
            model_name='prepaidmovement',
            name='kind',
            field=models.CharField(choices=[('deposit', 'Top-up'), ('offset', 'Paid a bill'), ('excess', 'Overpayment kept'), ('refund', 'Refunded'), ('unoffset', 'Payment from the balance reversed')], max_length=10, verbose_name='kind'),
        ),
        migrations.RunPython(backfill_resolution_channel, migrations.RunPython.noop),
    ]
