"""The catalog database: typed ORM models, engines and migrations."""
