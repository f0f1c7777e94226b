"""CRUD helpers. Every helper opens its own context-managed session, so none leaks a connection.

`transaction(factory)` is the helper for multi-step writes: everything inside the block commits
together or, on any exception, rolls back as a whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from neondoctor.app.budget.models import Category, Expense


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: returned objects stay readable after their session closed.
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session, one transaction: commit at the end of the block, roll everything back on error."""
    with factory() as session, session.begin():
        yield session


def create_category(factory: sessionmaker[Session], name: str) -> Category:
    with transaction(factory) as session:
        category = Category(name=name)
        session.add(category)
        session.flush()
        return category


def get_category(factory: sessionmaker[Session], category_id: int) -> Category | None:
    with factory() as session:
        return session.get(Category, category_id)


def find_category(factory: sessionmaker[Session], name: str) -> Category | None:
    with factory() as session:
        return session.scalars(select(Category).where(Category.name == name)).one_or_none()


def list_categories(factory: sessionmaker[Session]) -> list[Category]:
    with factory() as session:
        return list(session.scalars(select(Category).order_by(Category.name)))


def rename_category(factory: sessionmaker[Session], category_id: int, name: str) -> Category | None:
    with transaction(factory) as session:
        category = session.get(Category, category_id)
        if category is not None:
            category.name = name
        return category


def delete_category(factory: sessionmaker[Session], category_id: int) -> bool:
    """Delete a category and its expenses (in one transaction)."""
    with transaction(factory) as session:
        category = session.get(Category, category_id)
        if category is None:
            return False
        for expense in list(category.expenses):
            session.delete(expense)
        session.delete(category)
        return True


def add_expense(factory: sessionmaker[Session], category_id: int, amount: Decimal | str,
                spent_on: dt.date, description: str = "") -> Expense:
    with transaction(factory) as session:
        expense = Expense(category_id=category_id, amount=Decimal(amount), spent_on=spent_on,
                          description=description)
        session.add(expense)
        session.flush()
        return expense


def get_expense(factory: sessionmaker[Session], expense_id: int) -> Expense | None:
    with factory() as session:
        return session.get(Expense, expense_id)


def list_expenses(factory: sessionmaker[Session], category_id: int | None = None) -> list[Expense]:
    with factory() as session:
        query = select(Expense).order_by(Expense.spent_on, Expense.id)
        if category_id is not None:
            query = query.where(Expense.category_id == category_id)
        return list(session.scalars(query))


def update_expense(factory: sessionmaker[Session], expense_id: int, *, amount: Decimal | str | None = None,
                   description: str | None = None) -> Expense | None:
    with transaction(factory) as session:
        expense = session.get(Expense, expense_id)
        if expense is None:
            return None
        if amount is not None:
            expense.amount = Decimal(amount)
        if description is not None:
            expense.description = description
        return expense


def delete_expense(factory: sessionmaker[Session], expense_id: int) -> bool:
    with transaction(factory) as session:
        expense = session.get(Expense, expense_id)
        if expense is None:
            return False
        session.delete(expense)
        return True


def total_spent(factory: sessionmaker[Session], category_id: int) -> Decimal:
    from sqlalchemy import func

    with factory() as session:
        total = session.scalar(select(func.coalesce(func.sum(Expense.amount), 0))
                               .where(Expense.category_id == category_id))
        return Decimal(total).quantize(Decimal("0.01"))
