import pytest

from nudgeloop.domain.recommend import CatalogueError, Product, blocks, co_purchases, from_items, items, keys_for, parse_catalogue

CATALOGUE = {
    s: Product(sku=s, name=f"Product {s}", url=f"https://shop.example/{s}", related=rel)
    for s, rel in {"A": ("B", "Z"), "B": ("A",), "C": (), "D": ()}.items()
}


def test_co_purchases_count_customers_not_orders() -> None:
    co = co_purchases([{"A", "B"}, {"A", "B", "C"}, {"A", "C"}, {"A", "D"}, {"B"}])
    assert co["A"] == [("B", 2), ("C", 2), ("D", 1)]
    assert co["B"] == [("A", 2), ("C", 1)]
    assert "E" not in co


def test_blocks_rank_by_shared_customers_and_never_offer_owned_products() -> None:
    stored = items(co_purchases([{"A", "B"}, {"A", "B"}, {"A", "C"}]), CATALOGUE, {"new": ["A", "D", "C"]})
    assert "ALSO#A" in stored and all(entry[0] in CATALOGUE for entry in stored["ALSO#A"])
    assert [c["sku"] for c in stored["RELATED#A"]] == ["B"]  # Z is not in the catalogue
    result = from_items(["A"], "new", {k: stored[k] for k in keys_for(["A"], "new") if k in stored})
    assert [c["sku"] for c in result["also_bought"]] == ["B", "C"]
    assert [c["sku"] for c in result["related"]] == ["B"]
    assert [c["sku"] for c in result["we_recommend"]] == ["D", "C"]
    assert result["also_bought"][0] == {"sku": "B", "name": "Product B", "url": "https://shop.example/B"}


def test_blocks_respect_the_limit() -> None:
    cards = [{"sku": str(i)} for i in range(10)]
    assert len(blocks([], {}, {}, cards)["we_recommend"]) == 3


def test_catalogue_errors_name_the_line() -> None:
    with pytest.raises(CatalogueError, match="line 2"):
        parse_catalogue(['{"sku": "A", "name": "a"}', '{"sku": "B"}'])
