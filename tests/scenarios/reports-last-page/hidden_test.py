from reports.paging import page_count, pages


def test_a_partial_last_page_counts() -> None:
    assert page_count(250, 100) == 3
    assert page_count(1, 100) == 1
    assert page_count(0, 100) == 0


def test_every_row_is_exported() -> None:
    rows = [str(i) for i in range(250)]
    assert sum(pages(rows, 100), []) == rows
