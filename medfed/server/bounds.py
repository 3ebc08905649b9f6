"""Bounded integers for every id and count a request carries: one place, so an id or a count
beyond what the database stores (32-bit INTEGER on PostgreSQL) is refused as bad input with the
field named, and the OpenAPI description states the bound."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

MAX_INT = 2**31 - 1  # the largest INTEGER both SQLite and PostgreSQL columns hold here

IdPath = Annotated[int, Path(ge=1, le=MAX_INT, description="A record's id.")]
IdQuery = Annotated[int, Query(ge=1, le=MAX_INT)]
Id = Annotated[int, Field(ge=1, le=MAX_INT)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
