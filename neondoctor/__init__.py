"""neondoctor: diagnose PostgreSQL connection problems of SQLAlchemy applications."""
