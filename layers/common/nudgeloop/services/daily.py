"""The scheduled re-segmentation: reads only customers whose step is due to change."""

from __future__ import annotations

from dataclasses import dataclass

from nudgeloop import clock
from nudgeloop.adapters.bus import MAX_ENTRIES, BusEvent, Publisher
from nudgeloop.dal import repo
from nudgeloop.dal.models import CustomerModel
from nudgeloop.domain.staircase import Staircase
from nudgeloop.services import segmenting


@dataclass
class RunResult:
    examined: int = 0
    migrated: int = 0


def run(publisher: Publisher, stairs: Staircase) -> RunResult:
    """Re-place every customer due on or before today, migrations published 10 per call.

    A migration is published before the customer is saved, so a crash can repeat an event but
    never lose one (journeys start idempotently). A customer changed concurrently is retried.
    Re-running the same day finds nobody due and emits nothing.
    """
    today = clock.today()
    result = RunResult()
    due = list(dict.fromkeys(repo.due_for_review(today)))
    for start in range(0, len(due), MAX_ENTRIES):
        retry = due[start : start + MAX_ENTRIES]
        for _attempt in range(5):
            if not retry:
                break
            placed: list[tuple[CustomerModel, BusEvent | None]] = []
            for customer_id in retry:
                customer = repo.get_customer(customer_id)
                if customer is not None:
                    placed.append((customer, segmenting.refresh(customer, stairs, today, "schedule")))
            migrations = [m for _, m in placed if m is not None]
            if migrations:
                publisher.publish(migrations)
            retry = []
            for customer, migration in placed:
                if repo.save_customer(customer):
                    segmenting.record(migration)
                    result.examined += 1
                    result.migrated += migration is not None
                else:
                    retry.append(customer.customer_id)
        if retry:
            raise RuntimeError(f"{len(retry)} customers kept changing; the run will be retried")
    return result
