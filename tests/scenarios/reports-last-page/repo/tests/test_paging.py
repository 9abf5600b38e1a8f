from reports.paging import page_count


def test_whole_pages() -> None:
    assert page_count(300, 100) == 3
