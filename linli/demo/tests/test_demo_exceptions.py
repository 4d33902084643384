"""The money exceptions the demo leaves open for staff to close (``linli.demo.exceptions``).

The checks run on the demo ``TestLoadedDemo`` loads once (loading takes seconds): it
inherits ``ExceptionsInTheDemo``, so these are collected there, not here."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from linli.billing.models import Bill, BillingSettings, BillRun
from linli.billing.services.bill_run_reversal import reversal_blockers
from linli.demo.exceptions import (
    DEPOSITS_FEN,
    MISMATCH_SHORT_FEN,
    ONE_TIME_ITEM,
    REFUSAL,
    TOPUP_FEN,
)
from linli.ledger import chart
from linli.ledger.selectors import account_balance
from linli.payments.models import Channel, PaymentAnomaly, PaymentOrder, PrepaidWallet
from linli.payments.services import offset_payments
from linli.refunds.models import RefundApplication, RefundPayout

CUIHU = "翠湖花园"


class ExceptionsInTheDemo:
    def test_an_amount_mismatch_waits_in_suspense(self):
        anomaly = PaymentAnomaly.objects.get(kind=PaymentAnomaly.Kind.AMOUNT_MISMATCH)
        assert anomaly.status == PaymentAnomaly.Status.OPEN
        assert anomaly.community.name == CUIHU
        order = anomaly.order
        assert order.status == PaymentOrder.Status.MISMATCH
        assert anomaly.amount_fen == anomaly.suspense_fen == order.amount_fen - MISMATCH_SHORT_FEN
        assert anomaly.resolution_unit_id == order.unit_id
        assert account_balance(account=chart.SUSPENSE,
                               community_id=anomaly.community_id) == anomaly.suspense_fen
        # no bill was paid by the money that did not fit
        assert all(line.bill.status in Bill.OPEN_STATUSES for line in order.lines.all())

    def test_a_refund_the_channel_refused_needs_staff(self):
        application = RefundApplication.objects.get()
        assert application.status == RefundApplication.Status.ATTENTION
        assert application.attention_reason == REFUSAL[1]
        assert application.amount_fen == TOPUP_FEN
        assert application.payment.channel == Channel.SANDBOX
        assert application.requested_by.username == "service"
        assert application.decided_by.username == "manager"  # not who applied
        payout = application.payouts.get()
        assert (payout.status, payout.refund_id) == (RefundPayout.Status.FAILED, "")
        wallet = PrepaidWallet.objects.get(unit=application.unit)
        assert wallet.balance_fen == 0  # set aside for the refund

    def test_a_run_offset_from_prepaid_can_be_reversed(self):
        run = BillRun.objects.get(fee_items__name=ONE_TIME_ITEM)
        assert run.community.name == CUIHU and run.status == BillRun.Status.COMMITTED
        assert BillingSettings.objects.get(community=run.community).auto_offset_prepaid
        offsets = list(offset_payments(run.pk))
        assert len(offsets) >= len(DEPOSITS_FEN)
        bills = Bill.objects.filter(bill_run=run)
        assert bills.filter(status=Bill.Status.PAID).exists()
        assert bills.filter(status=Bill.Status.PARTIALLY_PAID).exists()
        assert bills.filter(status=Bill.Status.UNPAID).count() > len(offsets)
        assert reversal_blockers(run) == {}

    def test_linli_check_passes_with_them_open(self):
        out = StringIO()
        call_command("linli_check", stdout=out)  # exits with SystemExit(1) if anything broke
        assert "FAIL" not in out.getvalue()
