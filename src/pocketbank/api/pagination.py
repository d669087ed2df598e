"""Cursor pagination as Stripe does it: ``limit``, ``starting_after`` / ``ending_before``, ``{object: "list"}``."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")

MAX_LIMIT = 100


class ListPage(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    url: str = Field(description="The path this list was read from")
