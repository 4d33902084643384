"""A refund outside Linli is recorded once per total refunded outside Linli on its trade
(``total_fen``), no longer once per total the channel reported: the same reported total
can be a new outside refund when a refund counted as Linli's failed meanwhile."""

from django.db import migrations, models


def fill_totals(apps, schema_editor):
    OutsideRefund = apps.get_model("payments", "OutsideRefund")
    totals: dict[tuple[str, str], int] = {}
    for refund in OutsideRefund.objects.order_by("pk").only("channel", "transaction_id",
                                                             "amount_fen"):
        key = (refund.channel, refund.transaction_id)
        totals[key] = totals.get(key, 0) + refund.amount_fen
        OutsideRefund.objects.filter(pk=refund.pk).update(total_fen=totals[key])


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0009_shift_lines_and_topup_label"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="outsiderefund", name="outside_refund_once"),
        migrations.AddField(
            model_name="outsiderefund",
            name="total_fen",
            field=models.BigIntegerField(
                default=0, verbose_name="refunded outside Linli in all, this one included"),
            preserve_default=False,
        ),
        migrations.RunPython(fill_totals, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="outsiderefund",
            constraint=models.UniqueConstraint(fields=["channel", "transaction_id", "total_fen"],
                                               name="outside_refund_once"),
        ),
    ]
