"""What applications import: the engine factory (`app.db`, public as `neondoctor.db`) and the
budget tracker's models and CRUD (`app.budget`). Nothing here imports the CLI or the checks."""
