"""Quarantine reason codes.

A reason is the stable, machine-readable answer to "why was this record not accepted". It is written to
the quarantine topic headers and table and used as a metric label, so values are snake_case and must never
be renamed (add new ones instead).
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """Why a record went to quarantine. ``Reason.X.description`` explains it in one line."""

    bad_magic_byte = "bad_magic_byte"
    frame_too_short = "frame_too_short"
    unknown_schema_id = "unknown_schema_id"
    truncated_body = "truncated_body"
    trailing_bytes = "trailing_bytes"
    bogus_length = "bogus_length"
    schema_mismatch = "schema_mismatch"
    incompatible_schema = "incompatible_schema"
    invalid_utf8 = "invalid_utf8"
    missing_key = "missing_key"
    wrong_key = "wrong_key"
    oversized = "oversized"
    missing_event_id = "missing_event_id"
    missing_event_time = "missing_event_time"
    no_contract = "no_contract"
    rule_violation = "rule_violation"
    event_time_skew = "event_time_skew"
    duplicate_event_id = "duplicate_event_id"

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]


DESCRIPTIONS: dict[Reason, str] = {
    Reason.bad_magic_byte: "The value does not start with the Confluent wire-format magic byte 0x00.",
    Reason.frame_too_short: "The value is null or shorter than the 5-byte wire-format header.",
    Reason.unknown_schema_id: "The schema registry has no schema with the id in the wire-format header.",
    Reason.truncated_body: "The Avro body ends before the writer schema is complete.",
    Reason.trailing_bytes: "Bytes remain after the Avro body was fully read with the writer schema.",
    Reason.bogus_length: (
        "A string/bytes length or array/map count is negative or larger than any record within the "
        "contract's size limit could hold."
    ),
    Reason.schema_mismatch: ("The body does not follow the writer schema (e.g. enum or union index out of range)."),
    Reason.incompatible_schema: "The writer schema cannot be resolved to the contract's reader schema.",
    Reason.invalid_utf8: "A string field holds bytes that are not valid UTF-8.",
    Reason.missing_key: "The Kafka key is null or empty on a keyed stream.",
    Reason.wrong_key: "The Kafka key is not the UTF-8 encoding of the payload's key field.",
    Reason.oversized: "The value is larger than the contract's max_record_bytes (checked before decoding).",
    Reason.missing_event_id: "The payload's event id field is null or empty.",
    Reason.missing_event_time: "The payload's event time field is null.",
    Reason.no_contract: "No contract in schemas/ covers the record's topic.",
    Reason.rule_violation: "The payload breaks one of the contract's [[rules]] (the rule and field are named).",
    Reason.event_time_skew: (
        "The event time is further in the future than ingest time plus the contract's max_event_time_skew_ms "
        "(kept out of the audit log so it cannot advance event-time watermarks)."
    ),
    Reason.duplicate_event_id: (
        "Informational, not a data error: a valid record whose event id the same contract already accepted "
        "within its dedupe_window_s (the producer retried); the first occurrence is in the audit log."
    ),
}

assert set(DESCRIPTIONS) == set(Reason), "every Reason needs a description"
