from decimal import Decimal

from orders.pricing import order_total


def test_total_without_coupon() -> None:
    assert order_total([{"price": "10.00", "quantity": 2}]) == Decimal("21.60")


def test_total_with_coupon() -> None:
    assert order_total([{"price": "100", "quantity": 1}], "welcome10") == Decimal("97.20")
