from orders.pricing import order_total


def test_an_order_without_a_coupon_pays_full_price() -> None:
    assert order_total({"lines": [{"cents": 250, "qty": 4}]}) == 1000


def test_coupons_still_apply() -> None:
    assert order_total({"lines": [{"cents": 1000, "qty": 1}], "coupon": "SPRING5"}) == 950
