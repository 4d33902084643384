from django import template

from linli.money import format_fen

register = template.Library()


@register.filter
def yuan(amount_fen: int) -> str:
    """Fen as yuan with two decimals: 12345 → ¥123.45."""
    return format_fen(int(amount_fen or 0))
