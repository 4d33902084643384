"""Receipts for payments recorded before receipts existed.

Each gets the next number of its community in the year the migration runs (receipts are
numbered by year of issue), in the order the money was received; the snapshot is built
the way ``linli.receipts.services.receipt_snapshot`` builds it. A fresh database has no
payments yet, and this does nothing.
"""

from django.db import migrations
from django.utils import timezone, translation

GATEWAY_CHANNELS = ("wechat", "alipay", "sandbox")


def _snapshot(apps, payment) -> dict:
    PaymentAllocation = apps.get_model("payments", "PaymentAllocation")
    Occupancy = apps.get_model("estate", "Occupancy")
    StaffMember = apps.get_model("staff", "StaffMember")
    unit, community = payment.unit, payment.community
    items = [
        {
            "fee_item": a.bill.fee_item.name,
            "space": a.bill.parking_space.code if a.bill.parking_space_id else "",
            "period": a.bill.period_key,
            "principal_fen": a.principal_fen,
            "late_fee_fen": a.late_fee_fen,
        }
        for a in PaymentAllocation.objects.filter(payment_id=payment.pk)
        .select_related("bill__fee_item", "bill__parking_space")
        .order_by("bill__due_date", "bill__fee_item__name", "bill_id")
    ]
    allocated = sum(i["principal_fen"] + i["late_fee_fen"] for i in items)
    payer = payment.payer_name
    if not payer:
        today = timezone.localdate()
        occupancy = (Occupancy.objects.filter(unit_id=unit.pk, start_date__lte=today)
                     .exclude(end_date__lt=today).select_related("person")
                     .order_by("-is_payer", "id").first())
        payer = occupancy.person.name if occupancy else ""
    gateway = payment.channel in GATEWAY_CHANNELS
    cashier = ""
    if not gateway and payment.cashier_id:
        staff = StaffMember.objects.filter(user_id=payment.cashier_id).first()
        cashier = staff.display_name if staff else payment.cashier.username
    # A migration's choices hold the English labels: translate them here.
    english = dict(type(payment)._meta.get_field("channel").choices).get(payment.channel, "")
    with translation.override("zh-hans"):
        label = translation.gettext(str(english)) if english else payment.channel
    return {
        "v": 1,
        "company": community.company.name,
        "company_phone": community.company.phone,
        "community": community.name,
        "unit": f"{unit.building.name}{unit.entrance}{unit.room_no}",
        "payer": payer,
        "items": items,
        "prepaid_fen": payment.amount_fen - allocated,
        "total_fen": payment.amount_fen,
        "channel": payment.channel,
        "channel_label": label,
        "cashier": cashier,
        "transaction_id": payment.reference if gateway else "",
        "reference": "" if gateway else payment.reference,
        "received_at": timezone.localtime(payment.received_at).isoformat(),
    }


def forwards(apps, schema_editor):
    Payment = apps.get_model("payments", "Payment")
    Receipt = apps.get_model("receipts", "Receipt")
    ReceiptSequence = apps.get_model("receipts", "ReceiptSequence")
    missing = (Payment.objects.filter(receipt__isnull=True)
               .select_related("unit__building", "community__company", "cashier")
               .order_by("received_at", "id"))
    now = timezone.now()
    year = timezone.localtime(now).year
    for payment in missing.iterator():
        seq, _created = ReceiptSequence.objects.select_for_update(no_key=True).get_or_create(
            community_id=payment.community_id, year=year)
        seq.last_serial += 1
        seq.save(update_fields=["last_serial"])
        Receipt.objects.create(
            payment=payment, community_id=payment.community_id, unit_id=payment.unit_id,
            year=year, serial=seq.last_serial, number=f"{year:04d}-{seq.last_serial:06d}",
            issued_at=now, channel=payment.channel, total_fen=payment.amount_fen,
            snapshot=_snapshot(apps, payment),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("receipts", "0002_append_only_trigger"),
        ("payments", "0001_initial"),
        ("billing", "0001_initial"),
        ("estate", "0001_initial"),
        ("staff", "0001_initial"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
