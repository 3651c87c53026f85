"""What a target's refusal of a record means, decided at the seam from the client's error name
(librdkafka's for the producers, Kafka's own for raw batches), so that nothing above
``kmirror.kafka`` reads error names."""

from __future__ import annotations

import enum


class RefusalKind(enum.Enum):
    """The refusals the messages above kafka/ explain differently."""

    TOO_LARGE = "too large"  # the record is larger than the target allows
    TOPIC_GONE = "topic gone"  # the target topic or partition does not exist (any more)
    NOT_AUTHORIZED = "not authorized"  # an ACL is missing on the target topic
    OTHER = "other"


_BY_CLIENT_NAME = {
    "MSG_SIZE_TOO_LARGE": RefusalKind.TOO_LARGE,
    "UNKNOWN_TOPIC_OR_PART": RefusalKind.TOPIC_GONE,
    "_UNKNOWN_TOPIC": RefusalKind.TOPIC_GONE,
    "_UNKNOWN_PARTITION": RefusalKind.TOPIC_GONE,
    "TOPIC_AUTHORIZATION_FAILED": RefusalKind.NOT_AUTHORIZED,
}


def refusal_kind(client_name: str) -> RefusalKind:
    """The kind of a producer's refusal, from librdkafka's error name."""
    return _BY_CLIENT_NAME.get(client_name, RefusalKind.OTHER)


def wire_refusal_kind(kafka_name: str) -> RefusalKind:
    """The kind of a refusal in a Produce response, from Kafka's error name (the raw batch
    path: too-large batches and unknown partitions are retried or sent record by record, so
    only a missing ACL is told apart)."""
    return (RefusalKind.NOT_AUTHORIZED if kafka_name == "TOPIC_AUTHORIZATION_FAILED"
            else RefusalKind.OTHER)
