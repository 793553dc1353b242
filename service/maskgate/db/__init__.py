"""PostgreSQL + pgvector: models, engine, migrations and the embedded server.

Modules: ``models`` (tables), ``engine`` (engine and sessions), ``migrate`` (Alembic in
code), ``embedded`` (the local server used when no database URL is configured).
"""
