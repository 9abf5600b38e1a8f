"""Order pricing: subtotal, coupon discount, tax."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

TAX_RATE = Decimal("0.08")

# Percent off, by coupon code.
COUPONS: dict[str, Decimal] = {
    "WELCOME10": Decimal("10"),
    "SPRING24": Decimal("15"),
    "VIP": Decimal("25"),
}


def order_total(items: list[dict[str, object]], coupon: str | None = None) -> Decimal:
    """Total to charge for ``items`` (each with ``price`` and ``quantity``)."""
    subtotal = sum(
        (Decimal(str(item["price"])) * int(str(item["quantity"])) for item in items),
        Decimal("0"),
    )
    if coupon:
        percent = COUPONS[coupon.strip().upper()]
        subtotal -= subtotal * percent / 100
    total = subtotal * (1 + TAX_RATE)
    return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
