"""custody: an evidence chain-of-custody archive.

Layers (README, "Architecture"; enforced by the import-linter contracts in pyproject.toml, run by ``make lint``).
Each layer imports only the layers below it, and no sibling modules or packages import each other in a cycle:

1. ``cli`` (a separate package): parses, calls one library function, renders.
2. Use cases, one command's work each: ``ingest``, ``bundle.export``, ``bundle.receive`` (import),
   ``bundle.approvals``, ``verify``, ``catalog_check``, ``proofs`` (checkpointing, inclusion and consistency
   proofs), ``timestamp.stamps``, ``items``, ``annotate``, ``actors``, ``backup``, ``report``, ``reveal``,
   ``initialise``, ``join``, ``upgrade``, ``status``, ``unlock``, ...
3. The open archive: ``archive`` (configuration, catalog, store, the acting actor) and ``agent`` (the unlock
   agent's client).
4. Storage: ``db``, ``store.local``, ``store.s3``, and the log's tables (``log.events``, ``log.tree``,
   ``log.checkpoints``, ``log.event_items``).
5. Pure core, no database and no store: ``hashing``, ``canonical``, ``log.merkle``, ``log.note``, ``records``,
   ``log.logevent``, ``log.authority`` (the verification rules), ``log.state``, ``roles``, ``derivation``,
   ``disclosure``, ``checks`` (verification results), ``bundle.check`` (the offline bundle check),
   ``bundle.layout``, ``bundle.safezip``, ``metadata``, ``timestamp.tsa``, ``config``, ``keys``, ``timeutil``,
   ``errors``. It never imports SQLAlchemy, Alembic, psycopg or boto3, so ``verify-bundle`` runs without them.
"""

__version__ = "0.1.0"
