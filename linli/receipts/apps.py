from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReceiptsConfig(AppConfig):
    name = "linli.receipts"
    label = "receipts"
    verbose_name = _("Receipts")

    def ready(self):
        # Payments sit below receipts and cannot import them: this is the one receiver of
        # payments' receipt hook (imports here, not at the top: apps.py loads before models).
        from linli.payments.hooks import payment_reversed, receipt_link
        from linli.payments.services import receipt_issuer_register
        from linli.receipts.selectors import receipt_pdf_link
        from linli.receipts.services import receipt_issue, receipt_void_for_reversal

        receipt_issuer_register(receipt_issue)
        receipt_link.register(receipt_pdf_link)  # the payment's console page
        payment_reversed.register(receipt_void_for_reversal)
