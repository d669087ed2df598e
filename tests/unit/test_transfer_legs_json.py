"""A transfer record keeps its ledger chain as JSON, so that a retry or the scheduler resubmits it as it was sent."""

from __future__ import annotations

import json

from pocketbank.domain.ledger import Transfer, TransferFlags
from pocketbank.domain.transfers import ChainLeg
from pocketbank.storage.money import legs_from_json, legs_to_json

TRANSFER_ID = 2**127 + 5


def test_every_field_the_ledger_compares_survives_the_round_trip() -> None:
    legs = (
        ChainLeg("payment", Transfer(2**100 + 1, 7, 8, 900, 1, 10, TransferFlags.LINKED | TransferFlags.PENDING,
                                     timeout=3600, user_data_128=TRANSFER_ID, user_data_64=2**63, user_data_32=9)),
        ChainLeg("limit:day:2026-11-28", Transfer(2**100 + 2, 9, 10, 900, 2, 30, user_data_128=TRANSFER_ID)),
    )  # fmt: skip
    assert legs_from_json(legs_to_json(legs), TRANSFER_ID) == legs


def test_a_row_written_before_user_data_was_kept_reads_back_as_it_was_sent() -> None:
    """Such rows hold eight fields; their legs carried the transfer's id in user_data_128 and nothing else."""
    old = json.dumps(
        [["payment", "5", "7", "8", "900", "1", "10", "1", "0"], ["fee", "6", "7", "9", "1", "1", "11", "0", "0"]]
    )
    assert legs_from_json(old, TRANSFER_ID) == (
        ChainLeg("payment", Transfer(5, 7, 8, 900, 1, 10, TransferFlags.LINKED, user_data_128=TRANSFER_ID)),
        ChainLeg("fee", Transfer(6, 7, 9, 1, 1, 11, user_data_128=TRANSFER_ID)),
    )
