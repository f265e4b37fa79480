"""The tables. Append-only ones are protected by triggers installed in the migrations (see
``triggers.py``); mutable state (card revisions are appended, never edited) lives apart."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ID = String(70)  # "sys-" + 64 hex is the longest
TIME = String(32)  # ISO-8601 UTC text, sortable (domain.clock)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False, index=True),
    Column("tree_sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("created_by", String(256), nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("number", Integer, nullable=False),
    Column("tuple_json", Text, nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("parent_id", ID, ForeignKey("model_versions.id")),
    Column("created_at", TIME, nullable=False),
    Column("registered_by", String(256), nullable=False),
    Column("loader", Text),
    Column("irreproducible_reason", Text),
    Column("manifest_json", Text, nullable=False),
    UniqueConstraint("name", "number", name="uq_model_versions_name_number"),
    # newest first, overall and per model (``model search``, ``model list``); every index here
    # is paid for by each registration, so a registrant is found by the newest-first scan
    Index("ix_model_versions_created_at", "created_at", "id"),
    Index("ix_model_versions_name_created_at", "name", "created_at", "id"),
)

# What ``model search`` filters on, derived from rows that never change: each version's
# hyperparameters flattened to one row per key (``core/search_index.py``), and each eval
# result's metrics one row per metric. Append-only like the rows they index. The indexes hold
# the version id, so a condition is answered from the index alone.
version_params = Table(
    "version_params",
    metadata,
    Column("version_id", ID, ForeignKey("model_versions.id"), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("text", String(300), primary_key=True),  # core/search_index.py: as_text
    Column("num", Float),  # the value when it is a number, for ranges
    # one index for both kinds of value: a number by range, any other value (num IS NULL) by
    # its text; each index costs every registration one insert per hyperparameter
    Index("ix_version_params_key_num_text", "key", "num", "text", "version_id"),
    # SQLite: the rows live in the primary-key B-tree, so a probe by version id is one lookup
    sqlite_with_rowid=False,
)

eval_metrics = Table(
    "eval_metrics",
    metadata,
    Column("result_id", ID, ForeignKey("eval_results.id"), primary_key=True),
    Column("metric", String(256), primary_key=True),
    Column("eval_set_id", ID, nullable=False),
    Column("subject_id", ID, nullable=False),
    Column("value", Float, nullable=False),
    Index("ix_eval_metrics_set_metric_value", "eval_set_id", "metric", "value", "subject_id"),
    Index("ix_eval_metrics_subject", "subject_id", "eval_set_id", "metric", "value"),
)

# Labels on a version, outside its tuple: the current value of each, every change an event
# (``model.tag``, ``model.description``) saying who, when, the old value and the new.
version_tags = Table(
    "version_tags",
    metadata,
    Column("version_id", ID, ForeignKey("model_versions.id"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(512), nullable=False),
    Column("at", TIME, nullable=False),
    Column("set_by", String(256), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Index("ix_version_tags_key_value", "key", "value", "version_id"),
)

version_descriptions = Table(
    "version_descriptions",
    metadata,
    Column("version_id", ID, ForeignKey("model_versions.id"), primary_key=True),
    Column("text", Text, nullable=False),
    Column("at", TIME, nullable=False),
    Column("set_by", String(256), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
)

version_data = Table(
    "version_data",
    metadata,
    Column("version_id", ID, ForeignKey("model_versions.id"), primary_key=True),
    Column("snapshot_id", ID, ForeignKey("snapshots.id"), primary_key=True),
    Column("role", String(16), primary_key=True),
    # versions that used a snapshot, answered from the index alone (impact, model search --data)
    Index("ix_version_data_snapshot_version", "snapshot_id", "version_id"),
)

card_revisions = Table(
    "card_revisions",
    metadata,
    Column("version_id", ID, ForeignKey("model_versions.id"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("card_json", Text, nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("author", String(256), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(64), nullable=False, index=True),
    Column("subject", String(256), nullable=False, index=True),
    Column("actor", String(256), nullable=False),
    Column("at", TIME, nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

transforms = Table(
    "transforms",
    metadata,
    Column("id", ID, primary_key=True),
    Column("output_id", ID, ForeignKey("snapshots.id"), nullable=False, index=True),
    Column("step", Text, nullable=False),
    Column("record_json", Text, nullable=False),  # the canonical record the tf- id hashes
    Column("created_at", TIME, nullable=False),
    Column("created_by", String(256), nullable=False),
)

transform_inputs = Table(
    "transform_inputs",
    metadata,
    Column("transform_id", ID, ForeignKey("transforms.id"), primary_key=True),
    Column("input_id", ID, ForeignKey("snapshots.id"), primary_key=True, index=True),
)

dataset_cards = Table(
    "dataset_cards",
    metadata,
    Column("snapshot_id", ID, ForeignKey("snapshots.id"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("card_json", Text, nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("author", String(256), nullable=False),
)

ENV = String(128)
USER = String(256)

eval_sets = Table(
    "eval_sets",
    metadata,
    Column("snapshot_id", ID, ForeignKey("snapshots.id"), primary_key=True),
    Column("name", String(128), nullable=False, index=True),
    Column("created_at", TIME, nullable=False),
    Column("created_by", USER, nullable=False),
)

eval_results = Table(
    "eval_results",
    metadata,
    Column("id", ID, primary_key=True),
    Column("subject_id", ID, nullable=False, index=True),  # mv- or sys-
    Column("eval_set_id", ID, ForeignKey("snapshots.id"), nullable=False, index=True),
    Column("metrics_json", Text, nullable=False),
    Column("slices_json", Text, nullable=False),
    Column("report_sha256", String(64)),
    Column("created_at", TIME, nullable=False),
    Column("created_by", USER, nullable=False),
    UniqueConstraint("subject_id", "eval_set_id", name="uq_eval_results_subject_set"),
)

gate_policies = Table(
    "gate_policies",
    metadata,
    Column("sha256", String(64), primary_key=True),  # of the canonical policy
    Column("policy_json", Text, nullable=False),
    Column("source_text", Text, nullable=False),  # the file as the user wrote it
    Column("created_at", TIME, nullable=False),
    Column("created_by", USER, nullable=False),
)

environments = Table(
    "environments",
    metadata,
    Column("name", ENV, primary_key=True),
    Column("current_id", ID),
    Column("since", TIME),
    Column("policy_sha256", String(64), ForeignKey("gate_policies.sha256")),
    Column("created_at", TIME, nullable=False),
)

env_policies = Table(
    "env_policies",
    metadata,
    Column("env", ENV, ForeignKey("environments.name"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("policy_sha256", String(64), ForeignKey("gate_policies.sha256"), nullable=False),
    Column("at", TIME, nullable=False),
    Column("set_by", USER, nullable=False),
)

env_history = Table(
    "env_history",
    metadata,
    Column("env", ENV, ForeignKey("environments.name"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("subject_id", ID, nullable=False),
    Column("previous_id", ID),
    Column("action", String(16), nullable=False),  # promote | override | rollback
    Column("at", TIME, nullable=False),
    Column("requester", USER, nullable=False),
    Column("approvers_json", Text, nullable=False),
    Column("reason", Text),
    Column("policy_sha256", String(64)),
    Column("event_seq", BigInteger, nullable=False),
    Index("ix_env_history_env_at", "env", "at"),  # what was live at T
)

systems = Table(
    "systems",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("number", Integer, nullable=False),
    Column("components_json", Text, nullable=False),  # the canonical map the sys- id hashes
    Column("created_at", TIME, nullable=False),
    Column("created_by", USER, nullable=False),
    UniqueConstraint("name", "number", name="uq_systems_name_number"),
)

system_components = Table(
    "system_components",
    metadata,
    Column("system_id", ID, ForeignKey("systems.id"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("ref", String(512), nullable=False, index=True),
)

# Predictions (DESIGN.md §3): a narrow table for lookup and attribution, features in Parquet
# segments. A served answer and its shadows share the request id, so the key is
# (request_id, mode, version_id): the audit's lookup by request id is a key-prefix range. Rows
# carry no foreign keys (checking them would cost every bulk insert an index probe per row); the
# ingest checks versions and systems once per batch instead.
predictions = Table(
    "predictions",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("mode", String(8), primary_key=True),  # served | shadow
    Column("version_id", ID, primary_key=True),  # mv- or sys-
    Column("env", ENV, nullable=False),
    Column("system_id", ID),
    Column("arm", String(128)),
    Column("served_at", TIME, nullable=False),
    Column("input_sha256", String(64), nullable=False),
    Column("output_json", Text, nullable=False),
    Column("confidence", Float),
    Column("latency_ms", Float),
    Column("segment_id", String(64)),  # the Parquet segment holding this row's features
    # the event of the batch that logged it, whose Merkle root covers the row (NULL: logged
    # before rows were bound, covered by the ledger.bound event)
    Column("event_seq", BigInteger),
    Index("ix_predictions_env_served_at", "env", "served_at"),
    sqlite_with_rowid=False,
)

# One answer per client-given request id across serving processes: claimed before the answer
# leaves (predictions/claims.py). Operational state, not a record, so bound to no event; a SQLite
# ledger keeps its claims in a file beside the ledger's instead (migration 0011).
request_claims = Table(
    "request_claims",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("env", ENV, nullable=False),
    Column("claimed_at", TIME, nullable=False),
    Column("claimed_by", USER, nullable=False),
)

prediction_segments = Table(
    "prediction_segments",
    metadata,
    Column("id", String(64), primary_key=True),  # the Parquet blob's sha256
    Column("env", ENV, nullable=False),
    Column("first_served_at", TIME, nullable=False),
    Column("last_served_at", TIME, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("created_by", USER, nullable=False),
    Index("ix_prediction_segments_env_last", "env", "last_served_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),  # INTEGER PRIMARY KEY is SQLite's rowid
        primary_key=True,
        autoincrement=True,
    ),
    Column("request_id", String(128), nullable=False, index=True),
    Column("label_json", Text),
    Column("was_correct", Boolean),
    Column("failure_cluster", String(128)),
    Column("received_at", TIME, nullable=False),
    Column("received_by", USER, nullable=False),
    Column("source", String(512), nullable=False),
)

env_routes = Table(
    "env_routes",
    metadata,
    Column("env", ENV, ForeignKey("environments.name"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("base_id", ID, nullable=False),  # the live id the route was set against
    Column("policy_json", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("at", TIME, nullable=False),
    Column("set_by", USER, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
)

version_profiles = Table(
    "version_profiles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", ID, nullable=False),  # mv- (or sys-) id: a traffic profile may be either
    Column("profile_sha256", String(64), nullable=False),  # the profile's canonical JSON blob
    Column("source", String(16), nullable=False),  # training | traffic
    Column("rows", BigInteger, nullable=False),
    Column("features", Integer, nullable=False),
    # what a training profile was computed from (snapshots, label, inputs, binning): versions
    # trained on the same data share the profile without profiling it again
    Column("source_key", String(64)),
    Column("created_at", TIME, nullable=False),
    Column("created_by", USER, nullable=False),
    UniqueConstraint("version_id", "profile_sha256", name="uq_version_profiles"),
    Index("ix_version_profiles_version", "version_id", "id"),
    Index("ix_version_profiles_source_key", "source_key"),
)
