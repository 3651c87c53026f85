"""What refusals and raw-batch answers mean, decided at the seam (kafka/outcomes.py,
KafkaCode in kafka/raw_wire.py): the layers above read kinds and flags, never error names."""

from __future__ import annotations

import pytest

from kmirror.kafka.outcomes import RefusalKind, refusal_kind, wire_refusal_kind
from kmirror.kafka.raw_wire import KafkaCode


@pytest.mark.parametrize(("name", "kind"), [
    ("MSG_SIZE_TOO_LARGE", RefusalKind.TOO_LARGE),
    ("UNKNOWN_TOPIC_OR_PART", RefusalKind.TOPIC_GONE),
    ("_UNKNOWN_TOPIC", RefusalKind.TOPIC_GONE),
    ("_UNKNOWN_PARTITION", RefusalKind.TOPIC_GONE),
    ("TOPIC_AUTHORIZATION_FAILED", RefusalKind.NOT_AUTHORIZED),
    ("INVALID_RECORD", RefusalKind.OTHER),
])
def test_producer_refusals_by_librdkafka_name(name: str, kind: RefusalKind) -> None:
    assert refusal_kind(name) is kind


def test_raw_produce_refusals_tell_only_a_missing_acl_apart() -> None:
    assert wire_refusal_kind("TOPIC_AUTHORIZATION_FAILED") is RefusalKind.NOT_AUTHORIZED
    assert wire_refusal_kind("CORRUPT_MESSAGE") is RefusalKind.OTHER
    assert KafkaCode.of(29).refusal is RefusalKind.NOT_AUTHORIZED  # TOPIC_AUTHORIZATION_FAILED


@pytest.mark.parametrize(("code", "flag"), [
    (10, "too_large"),  # MESSAGE_TOO_LARGE
    (18, "too_large"),  # RECORD_LIST_TOO_LARGE
    (46, "duplicate"),  # DUPLICATE_SEQUENCE_NUMBER
    (45, "needs_new_producer_id"),  # OUT_OF_ORDER_SEQUENCE_NUMBER
    (59, "needs_new_producer_id"),  # UNKNOWN_PRODUCER_ID
    (47, "needs_new_producer_id"),  # INVALID_PRODUCER_EPOCH
    (6, "stale_metadata"),  # NOT_LEADER_OR_FOLLOWER
    (3, "stale_metadata"),  # UNKNOWN_TOPIC_OR_PARTITION
    (1, "out_of_range"),  # OFFSET_OUT_OF_RANGE
])
def test_kafka_codes_say_what_they_mean_for_the_batch_path(code: int, flag: str) -> None:
    answer = KafkaCode.of(code)
    flags = ("too_large", "duplicate", "needs_new_producer_id", "stale_metadata",
             "out_of_range")
    assert {f for f in flags if getattr(answer, f)} == {flag}, answer.name
