"""Creating accounts: the account half of the state machine.

An account is created once: its id is unique and every field but the counters is fixed at creation (the counters
start at zero and only transfers change them; the ledger stamps the timestamp). Creating an id that exists answers
``exists`` when the request matches the stored account field for field, and ``exists_with_different_*`` naming the
first field that differs, so a retry is recognised and a different account under a taken id is refused. As with
transfers, a linked chain is created all or none: on the first refusal every account of the chain is taken back
and the others answer ``linked_event_failed``; a chain left open at the end of a batch fails as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from pocketbank.domain.ledger.model import Account, AccountFlags
from pocketbank.domain.ledger.results import CreateAccountResult
from pocketbank.domain.ledger.validation import account_exists_result, check_account_fields


def create_accounts(
    segments: Sequence[Sequence[Account]], existing: dict[int, Account], first_timestamp: int
) -> tuple[list[list[CreateAccountResult]], list[Account], int]:
    """Validate and create accounts; linked chains apply all or none. Returns results, new accounts, next ts.

    ``existing`` holds the stored accounts with the batch's ids; it is updated with the accounts created.
    """
    A = CreateAccountResult
    created: list[Account] = []
    ts = first_timestamp
    out: list[list[CreateAccountResult]] = []
    for events in segments:
        n = len(events)
        results: list[CreateAccountResult] = [A.OK] * n
        i = 0
        while i < n:
            end = i
            while end < n and events[end].flags & AccountFlags.LINKED:
                end += 1
            chain_open = end == n
            end = min(end, n - 1)
            mark = len(created)
            failed_at, code = -1, A.OK
            for k in range(i, end + 1):
                if chain_open and k == end:
                    failed_at, code = k, A.LINKED_EVENT_CHAIN_OPEN
                    break
                a = events[k]
                code = check_account_fields(a) or A.OK
                if code is A.OK:
                    prior = existing.get(a.id)
                    if prior is not None:
                        code = account_exists_result(a, prior)
                    else:
                        stored = Account(
                            a.id, a.ledger, a.code, a.flags, a.user_data_128, a.user_data_64, a.user_data_32,
                            0, 0, 0, 0, ts,
                        )  # fmt: skip
                        ts += 1
                        existing[a.id] = stored
                        created.append(stored)
                results[k] = code
                if code not in (A.OK, A.EXISTS):
                    failed_at = k
                    break
            if (failed_at >= 0 and end > i) or chain_open:
                for undone in created[mark:]:
                    del existing[undone.id]
                del created[mark:]
                for k in range(i, end + 1):
                    results[k] = A.LINKED_EVENT_FAILED
                results[failed_at] = code
            i = end + 1
        out.append(results)
    return out, created, ts
