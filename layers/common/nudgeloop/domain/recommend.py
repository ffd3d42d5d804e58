"""Recommendations, aggregated beforehand (pure): "customers also bought" (co-purchase counts),
"related products" (catalogue), "we recommend" (curated per step)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from itertools import permutations
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

TOP_N = 10


class Product(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sku: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=256)
    category: str | None = None
    price: str | None = None
    url: str | None = None
    image: str | None = None
    related: tuple[str, ...] = ()

    def card(self) -> dict[str, Any]:
        """What a template needs to show the product."""
        return self.model_dump(exclude={"related"}, exclude_none=True)


class CatalogueError(ValueError):
    pass


def parse_catalogue(lines: Iterable[str]) -> dict[str, Product]:
    products: dict[str, Product] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            product = Product.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise CatalogueError(f"line {number}: {exc}") from exc
        products[product.sku] = product
    return products


def co_purchases(baskets: Iterable[set[str]], top_n: int = TOP_N) -> dict[str, list[tuple[str, int]]]:
    """Per product, the products most often bought by the same customers (count, then SKU)."""
    counts: dict[str, Counter[str]] = {}
    for basket in baskets:
        for a, b in permutations(sorted(basket), 2):
            counts.setdefault(a, Counter())[b] += 1
    return {sku: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n] for sku, c in counts.items()}


def blocks(
    owned: list[str],
    also: dict[str, list[list[Any]]],
    related: dict[str, list[dict[str, Any]]],
    curated: list[dict[str, Any]],
    limit: int = 3,
) -> dict[str, list[dict[str, Any]]]:
    """The three blocks for one customer, never offering what they already own.

    ``owned`` is most recent first; ``also`` maps an owned SKU to ``[[sku, count, card], ...]``;
    ``related`` maps an owned SKU to product cards; ``curated`` is the step's list of cards.
    """
    have = set(owned)

    def pick(cards: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        chosen: dict[str, dict[str, Any]] = {}
        for card in cards:
            if card["sku"] not in have and card["sku"] not in chosen:
                chosen[card["sku"]] = card
            if len(chosen) == limit:
                break
        return list(chosen.values())

    score: Counter[str] = Counter()
    card_of: dict[str, dict[str, Any]] = {}
    for sku in owned:
        for other, count, card in also.get(sku, []):
            score[other] += int(count)
            card_of[other] = card
    ranked = sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "also_bought": pick(card_of[sku] for sku, _ in ranked),
        "related": pick(card for sku in owned for card in related.get(sku, [])),
        "we_recommend": pick(curated),
    }


KINDS = ("ALSO#", "RELATED#", "CURATED#")  # the key prefixes of the recommendation blocks (the recs table holds others)


def items(co: dict[str, list[tuple[str, int]]], catalogue: dict[str, Product], curated: dict[str, list[str]]) -> dict[str, Any]:
    """The stored read model: one item per key, each self-contained (product cards included) so a
    send reads everything for one customer in one BatchGetItem."""
    out: dict[str, Any] = {}
    for sku, pairs in co.items():
        listed = [[other, count, catalogue[other].card()] for other, count in pairs if other in catalogue]
        if listed:
            out[f"ALSO#{sku}"] = listed
    for sku, product in catalogue.items():
        cards = [catalogue[r].card() for r in product.related if r in catalogue]
        if cards:
            out[f"RELATED#{sku}"] = cards
    for segment, skus in curated.items():
        out[f"CURATED#{segment}"] = [catalogue[s].card() for s in skus if s in catalogue]
    return out


def keys_for(owned: list[str], segment: str) -> list[str]:
    return [*(f"ALSO#{s}" for s in owned), *(f"RELATED#{s}" for s in owned), f"CURATED#{segment}"]


def from_items(owned: list[str], segment: str, found: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return blocks(
        owned,
        {s: found.get(f"ALSO#{s}", []) for s in owned},
        {s: found.get(f"RELATED#{s}", []) for s in owned},
        found.get(f"CURATED#{segment}", []),
    )
