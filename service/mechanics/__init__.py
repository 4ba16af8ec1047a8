"""The shared mechanics every domain uses, one way each (below every domain folder):

- `claim.skip_locked` / `claim.claim`: take due rows so several workers never take the same one
  (`FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single writer serialises) and lease them;
- `retry.backoff` / `retry.parse_retry_after`: when to try again after a failure;
- `wake.wake_after_commit`: run the worker (or the dispatcher) as soon as a transaction commits;
- `clients.PerConfig`: one Microsoft client (msal application, token cache) per configuration.

SQLite-vs-PostgreSQL checks are `db.is_postgres` and `db.insert_for`.
"""
