from orders.pricing import order_total


def test_a_coupon_takes_its_percentage_off() -> None:
    order = {"lines": [{"cents": 1000, "qty": 2}], "coupon": "WELCOME10"}
    assert order_total(order) == 1800
