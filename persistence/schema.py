"""The store's tables (SQLAlchemy Core). Created and changed only by the Alembic migrations in
``persistence/migrations``; this module is their shared description.

- ``events``: append-only, one hash chain per case; ``position`` is the notification-log order.
- ``cases``: the projection, a cache of the fold of a case's events (never the truth).
- ``timers``: at most one armed timer per case (each state has at most one), written in the
  transition's own transaction; the scheduler claims rows from here.
- ``personal_data`` and ``case_personal``: the vault. The chain commits to each personal payload
  by digest, so destroying these rows at the end of retention leaves the chain verifiable.
  Every value there (and ``cases.personal``) is sealed under the case's data key, kept by the
  key provider outside the database (``persistence/vault.py``, ``keys.py``; migration 0006).
- ``attempts`` (its own ``attempts_metadata``, apart from the chain): every refused command,
  by time, case, actor, trigger and refusal code; no payload and no personal data (a worker is
  kept as a digest of their id number). Migration 0003.
- ``policy_versions``: every policy version published to the store (migration 0005); the
  current one is the highest-numbered version whose text the store holds.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only makes INTEGER PRIMARY KEY an alias of its rowid (auto-increment).
_POSITION = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events", metadata,
    Column("position", _POSITION, primary_key=True, autoincrement=True),
    Column("case_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", String(40), nullable=False),  # UTC, fixed format: sorts as it reads
    Column("trigger", String(40), nullable=False),
    Column("actor", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("personal_digest", String(80), nullable=True),
    Column("policy_id", String(64), nullable=True),
    Column("policy_hash", String(80), nullable=True),
    Column("derived", Text, nullable=False),
    Column("idempotency_key", String(200), nullable=True),
    Column("prev_hash", String(80), nullable=False),
    Column("hash", String(80), nullable=False),
    # what a keyed command asked for (a digest of its trigger and payload): a repeat of the
    # key must ask for the same (migration 0002)
    Column("request_digest", String(64), nullable=True),
    UniqueConstraint("case_id", "seq", name="uq_events_case_seq"),
    UniqueConstraint("idempotency_key", name="uq_events_idempotency_key"),
)

cases = Table(
    "cases", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("state", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("category", String(20), nullable=True),
    Column("reviewing_body", String(40), nullable=True),
    Column("grassroots_union", String(200), nullable=True),
    Column("snapshot", Text, nullable=False),
    Column("head_hash", String(80), nullable=False),
    Column("updated_at", String(40), nullable=False),
    # the projection's personal figures (e.g. medical_declared), sealed (migration 0006)
    Column("personal", Text, nullable=True),
    Index("ix_cases_state", "state"),
    Index("ix_cases_reviewing_body", "reviewing_body"),
    Index("ix_cases_grassroots_union", "grassroots_union"),
)

timers = Table(
    "timers", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("due", String(40), nullable=True),  # UTC, fixed format; NULL: not computable yet
    Column("status", String(12), nullable=False),  # pending, fired, void, blocked
    Column("armed_seq", Integer, nullable=False),
    Index("ix_timers_status_due", "status", "due"),
)

personal_data = Table(
    "personal_data", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("payload", Text, nullable=False),
)

case_personal = Table(
    "case_personal", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("applicant_id", Text, nullable=False),  # sealed (migration 0006)
    Column("application", Text, nullable=False),  # sealed
    # HMAC-SHA256 of the id number under the store's index key: the lookup, never the number
    Column("applicant_key", String(80), nullable=True),
    Index("ix_case_personal_applicant_key", "applicant_key"),
)

# The key-store reference of each case's data key, when it came from a batch (migration 0007;
# persistence/keys.py): a name, not a key. Cases sealed before have none (found by case id).
case_keys = Table(
    "case_keys", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("key_ref", String(64), nullable=False),
)

# The store's identity (migration 0004): ``origin`` names the store in its checkpoints.
store_meta = Table(
    "store_meta", metadata,
    Column("key", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
)

# Policy versions (issue 15): ``version`` numbers them per store from 1; ``hash`` is the hash
# of what the TOML text says (policies/policy_hash.py), the one events decided under it record;
# ``legacy_hash`` the hash events recorded for the same text before migration 0005 (of the
# pydantic model), an alias. A hash may recur: publishing an older version's text again makes
# a new version of it (going back is a publication too). ``toml`` is NULL only for a version
# migration 0005 registered from events whose text the store never held. ``published_at`` is
# UTC text, as ``events.at``.
policy_versions = Table(
    "policy_versions", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("policy_id", String(64), nullable=False),
    Column("hash", String(80), nullable=False),
    Column("legacy_hash", String(80), nullable=True),
    Column("toml", Text, nullable=True),
    Column("published_by", String(200), nullable=False),
    Column("published_at", String(40), nullable=False),
    Column("note", Text, nullable=False),
    Index("ix_policy_versions_hash", "hash"),
    Index("ix_policy_versions_legacy_hash", "legacy_hash"),
)

# The attempts log (issue 16): apart from the chain and its tables, so a refusal still changes
# nothing of ``metadata``'s tables. ``at`` is the command's time, ``recorded_at`` the moment
# the refusal was written (UTC text, as ``events.at``); ``actor_org`` is the organisation, or
# for a worker "id:" and a digest of their id number (``workflow/attempts.py``, ``attempt_actor``).
attempts_metadata = MetaData()

attempts = Table(
    "attempts", attempts_metadata,
    Column("position", _POSITION, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("actor_role", String(40), nullable=False),
    Column("actor_org", String(200), nullable=True),
    Column("trigger", String(40), nullable=False),
    Column("code", String(40), nullable=False),
    Index("ix_attempts_case_position", "case_id", "position"),
)

# The projection's columns with an index. SQLite rewrites the index entry of every column an
# UPDATE sets, changed or not (one more page in the write-ahead log per index and transition),
# so the engine's update leaves out those whose value the transition keeps.
CASES_INDEXED = frozenset(c.name for index in cases.indexes for c in index.columns)
