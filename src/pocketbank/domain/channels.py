"""Channels and authentication methods: where a request came from and how its sender proved who they are.

Every request the bank accepts records both, because both change what the bank allows and charges:

* The **channel** (`Channel`) picks the fee tariff. Chinese banks price the same transfer differently by
  channel: a counter clerk's time costs more than an app tap, so the counter tariff is the reference and
  electronic channels get a discount (in ICBC's 2017 model mobile transfers are free). See `pricing`.
* The **authentication method** (`AuthMethod`) picks the transaction limits. A request proven only with a
  password is allowed far less than one signed with a one-time code from a hardware-grade token. See `limits`.

Invariants: the values are stable lowercase words stored in the ledger and sent over the API; they are
never renamed, only added to.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """Where a request entered the bank."""

    MOBILE = "mobile"  # the bank's own phone app
    ONLINE = "online"  # internet banking in a browser
    COUNTER = "counter"  # a teller at a branch, face to face
    ATM = "atm"  # a self-service machine
    OPEN_API = "open_api"  # a third party calling the bank's open API on the customer's behalf


class AuthMethod(StrEnum):
    """The strongest factor the customer presented for this request."""

    PASSWORD = "password"  # knowledge factor only  # noqa: S105 - an enum value, not a secret
    SMS = "sms"  # one-time code sent by SMS to the registered mobile number
    TOTP = "totp"  # time-based one-time code from an enrolled authenticator (the "e-password device" tier)
    PIN = "pin"  # a short PIN / code-card answer (the "code card" tier)
    STAFF = "staff"  # a teller verified the customer's identity document in person
