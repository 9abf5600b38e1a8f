COUPONS = {"WELCOME10": 10, "SPRING5": 5}
"""Percent off, by coupon code."""


def order_total(order: dict) -> int:
    """The total in cents of an order: its lines, less its coupon's percentage if any."""
    subtotal = sum(line["cents"] * line["qty"] for line in order["lines"])
    discount = COUPONS[order["coupon"]]
    return subtotal - subtotal * discount // 100
