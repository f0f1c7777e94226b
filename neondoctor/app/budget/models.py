"""SQLAlchemy 2.x typed declarative models of the budget tracker (SQLite locally, PostgreSQL in the cloud)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """The budget tracker's own metadata (kept apart from any user models)."""


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)

    expenses: Mapped[list[Expense]] = relationship(back_populates="category")

    def __repr__(self) -> str:
        return f"Category(id={self.id!r}, name={self.name!r})"


class Expense(Base):
    __tablename__ = "expenses"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Numeric, never Float: money must round-trip exactly on both SQLite and PostgreSQL.
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    spent_on: Mapped[dt.date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(500), default="")
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)

    category: Mapped[Category] = relationship(back_populates="expenses")

    def __repr__(self) -> str:
        return f"Expense(id={self.id!r}, amount={self.amount!r}, spent_on={self.spent_on!r})"
