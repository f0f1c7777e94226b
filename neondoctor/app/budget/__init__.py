"""The budget tracker that neondoctor sits beside: typed models and session-safe CRUD helpers."""

from neondoctor.app.budget.models import Base, Category, Expense

__all__ = ["Base", "Category", "Expense"]
