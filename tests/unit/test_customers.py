"""Behaviour of customer identity: phone numbers, identity documents, names, account classes and statuses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.customers import (
    REMOTE_SIGNUP_CLASS,
    AccountClass,
    ClassLimits,
    CustomerStatus,
    IdDocument,
    IdKind,
    normalise_name,
    normalise_phone,
)
from pocketbank.errors import InvalidIdDocument, InvalidName, InvalidPhoneNumber, PocketBankError

# --- phone numbers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("19912345678", "+8619912345678"),
        (" 138 0013 8000 ", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("+8613800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("+12025550123", "+12025550123"),  # US: fixed-line-or-mobile
        ("+447911123456", "+447911123456"),  # UK mobile
        ("+33612345678", "+33612345678"),  # France mobile
        ("+85291234567", "+85291234567"),  # Hong Kong mobile
    ],
)
def test_valid_phone_numbers_are_normalised_to_e164(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12800138000",  # mainland mobiles start 13-19
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "8613800138000",  # country code without '+'
        "008613800138000",  # international prefix instead of '+'
        "+861380013800",  # +86 but not a mainland mobile
        "+8601012345678",  # +86 landline-shaped
        "+1234567",  # 7 digits after '+'
        "+1234567890123456",  # 16 digits
        "+442079460000",  # UK landline: cannot receive SMS codes
        "+99912345678",  # unassigned country code
        "１３８００１３８０００",  # full-width digits
        "1380013800O",  # letter O
        "(138)00138000",
    ],
)
def test_invalid_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalise_phone(raw)
    assert info.value.code == "invalid_phone_number"
    assert info.value.param == "phone"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_every_mainland_mobile_is_the_same_customer_in_both_forms(local: str) -> None:
    assert normalise_phone(local) == normalise_phone("+86" + local) == "+86" + local


def test_phone_must_be_text() -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalise_phone(13800138000)  # type: ignore[arg-type]


# --- identity documents -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),  # lowercase x normalised
        (" 11010519491231002X ", "11010519491231002X"),
        ("360426199101010071", "360426199101010071"),
    ],
)
def test_valid_resident_ids_are_accepted_and_normalised(raw: str, expected: str) -> None:
    assert IdDocument(IdKind.PRC_RESIDENT_ID, raw).number == expected


@pytest.mark.parametrize(
    "raw",
    [
        "110105194912310021",  # wrong check digit
        "11010519491231002Y",
        "360426199101010072",  # wrong check digit
        "11010519491331002X",  # month 13 (check digit recomputed below)
        "1101051949123100",  # too short
        "11010519491231002X1",  # too long
        "11010519491231002",
        "A1010519491231002X",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width
        "",
    ],
)
def test_invalid_resident_ids_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdDocument) as info:
        IdDocument(IdKind.PRC_RESIDENT_ID, raw)
    assert info.value.code == "invalid_id_document"
    assert info.value.param == "id_number"


def test_impossible_birth_date_is_refused_even_with_a_correct_check_digit() -> None:
    from stdnum.cn import ric

    body = "11010519490230002"  # 30 February
    with pytest.raises(InvalidIdDocument, match="birth date"):
        IdDocument(IdKind.PRC_RESIDENT_ID, body + ric.calc_check_digit(body + "0"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("e12345678", "E12345678"), ("G1234", "G1234"), (" ab12cd34 ", "AB12CD34"), ("A" * 20, "A" * 20)],
)
def test_passports_are_uppercased(raw: str, expected: str) -> None:
    assert IdDocument(IdKind.PASSPORT, raw).number == expected


@pytest.mark.parametrize("raw", ["1234", "A" * 21, "E1234-567", "E 1234567", "É1234567", ""])
def test_invalid_passports_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdDocument):
        IdDocument(IdKind.PASSPORT, raw)


def test_documents_compare_by_canonical_number_and_mask_personal_data() -> None:
    a = IdDocument(IdKind.PRC_RESIDENT_ID, "11010519491231002x")
    assert a == IdDocument(IdKind.PRC_RESIDENT_ID, "11010519491231002X")
    assert a.masked() == "110*************2X"
    assert "19491231" not in repr(a)


def test_document_kind_must_be_an_id_kind() -> None:
    with pytest.raises(InvalidIdDocument):
        IdDocument("driving_licence", "E12345678")  # type: ignore[arg-type]


# --- names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("张三", "张三"), ("  Zhang San ", "Zhang San"), ("O'Brien-Smith", "O'Brien-Smith"), ("x" * 64, "x" * 64)],
)
def test_valid_names(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "x" * 65, "Zhang\nSan", "Zhang\x00San", "evil\u202egnp.exe", "a\tb"])
def test_invalid_names_are_refused(raw: str) -> None:
    with pytest.raises(InvalidName) as info:
        normalise_name(raw)
    assert info.value.code == "invalid_name"


# --- classes, statuses, channels ----------------------------------------------------------------------------


def test_account_classes_and_remote_signup() -> None:
    assert [int(c) for c in AccountClass] == [1, 2, 3]
    assert REMOTE_SIGNUP_CLASS is AccountClass.II


def test_class_limits_refuse_negative_or_non_int_caps() -> None:
    assert ClassLimits(None, None, None).daily_out is None
    with pytest.raises(ValueError):
        ClassLimits(-1, None, None)
    with pytest.raises(ValueError):
        ClassLimits(None, 1.5, None)  # type: ignore[arg-type]


def test_stable_enum_values() -> None:
    assert [s.value for s in CustomerStatus] == ["pending_verification", "active", "locked", "closed"]
    assert [c.value for c in Channel] == ["mobile", "online", "counter", "atm", "open_api"]
    assert [m.value for m in AuthMethod] == ["password", "sms", "totp", "pin", "staff"]
    assert [k.value for k in IdKind] == ["prc_resident_id", "passport"]


def test_errors_are_pocketbank_errors() -> None:
    for error in (InvalidPhoneNumber, InvalidIdDocument, InvalidName):
        assert issubclass(error, PocketBankError)
