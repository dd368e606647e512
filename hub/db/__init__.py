"""The hub's store: the one way to open it, its schema and migrations, and what is
derived from it."""
