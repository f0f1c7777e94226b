"""Budget tracker models and CRUD on SQLite and on a real PostgreSQL from the lab."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from neondoctor.app.budget import Base, Category, Expense, crud


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = create_engine(f"sqlite:///{tmp_path / 'budget.db'}")
    else:
        lab = request.getfixturevalue("lab_primary")
        # A database of its own per test, so the sanity tests' tables are never touched.
        name = f"budget_{uuid.uuid4().hex[:10]}"
        lab.execute(f'CREATE DATABASE "{name}" OWNER app')
        eng = create_engine(lab.app_url(database=name))
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()
    if request.param == "postgresql":
        request.getfixturevalue("lab_primary").execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return crud.session_factory(engine)


def _count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_crud_round_trip(factory: sessionmaker[Session]) -> None:
    food = crud.create_category(factory, "food")
    rent = crud.create_category(factory, "rent")
    assert [c.name for c in crud.list_categories(factory)] == ["food", "rent"]
    assert crud.find_category(factory, "food").id == food.id  # type: ignore[union-attr]

    e1 = crud.add_expense(factory, food.id, "12.34", dt.date(2026, 1, 5), "groceries")
    crud.add_expense(factory, food.id, Decimal("0.66"), dt.date(2026, 1, 6), "bread")
    crud.add_expense(factory, rent.id, "900.00", dt.date(2026, 1, 1))
    got = crud.get_expense(factory, e1.id)
    assert got is not None
    assert got.amount == Decimal("12.34") and isinstance(got.amount, Decimal)
    assert got.spent_on == dt.date(2026, 1, 5)
    assert crud.total_spent(factory, food.id) == Decimal("13.00")
    assert len(crud.list_expenses(factory, food.id)) == 2

    crud.update_expense(factory, e1.id, amount="20.00", description="more groceries")
    updated = crud.get_expense(factory, e1.id)
    assert updated is not None and updated.amount == Decimal("20.00") and updated.description == "more groceries"

    assert crud.rename_category(factory, rent.id, "housing").name == "housing"  # type: ignore[union-attr]
    assert crud.delete_expense(factory, e1.id) is True
    assert crud.delete_expense(factory, e1.id) is False
    assert crud.delete_category(factory, food.id) is True
    assert crud.get_category(factory, food.id) is None
    assert _count(factory, Expense) == 1


def test_unique_category_name(factory: sessionmaker[Session]) -> None:
    crud.create_category(factory, "travel")
    with pytest.raises(IntegrityError):
        crud.create_category(factory, "travel")
    assert _count(factory, Category) == 1


def test_transaction_rolls_back_as_a_whole(factory: sessionmaker[Session]) -> None:
    crud.create_category(factory, "existing")
    with pytest.raises(IntegrityError), crud.transaction(factory) as session:
        cat = Category(name="fresh")
        session.add(cat)
        session.flush()
        session.add(Expense(category_id=cat.id, amount=Decimal("5.00"), spent_on=dt.date(2026, 2, 1)))
        session.flush()
        session.add(Category(name="existing"))  # violates the unique name: the whole block fails
    assert [c.name for c in crud.list_categories(factory)] == ["existing"]
    assert _count(factory, Expense) == 0


def test_transaction_rolls_back_on_any_exception(factory: sessionmaker[Session]) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), crud.transaction(factory) as session:
        session.add(Category(name="half-done"))
        session.flush()
        raise Boom
    assert _count(factory, Category) == 0


def test_transaction_commits_all_steps(factory: sessionmaker[Session]) -> None:
    with crud.transaction(factory) as session:
        cat = Category(name="bills")
        session.add(cat)
        session.flush()
        session.add_all([Expense(category_id=cat.id, amount=Decimal("1.10"), spent_on=dt.date(2026, 3, 1)),
                         Expense(category_id=cat.id, amount=Decimal("2.20"), spent_on=dt.date(2026, 3, 2))])
    assert _count(factory, Expense) == 2
    assert crud.total_spent(factory, cat.id) == Decimal("3.30")


def test_helpers_return_connections_to_the_pool(engine: Engine, factory: sessionmaker[Session]) -> None:
    cat = crud.create_category(factory, "pool")
    for _ in range(5):
        crud.get_category(factory, cat.id)
        crud.list_expenses(factory)
    assert engine.pool.checkedout() == 0
