"""confluent-kafka's errors translated into kmirror's exception tree (``kmirror.errors``).

This is the seam's one place that reads librdkafka's error codes for the modules that answer
kmirror's tools and its bookkeeping (admin, groups, offsets, scans, kmirror's own topics).
Callers choose the class from what a failure means to the user (``MirrorError`` when the
mirror cannot go on, ``BadInputError`` when the user can fix it, ``AccessDenied`` when an ACL
is missing) and keep writing their messages; ``translated`` builds the exception and carries
the client's ``retriable`` verdict over, so the layers above never see a ``KafkaError``.
"""

from __future__ import annotations

from typing import TypeVar

from confluent_kafka import KafkaError, KafkaException

from kmirror.errors import KmirrorError

E = TypeVar("E", bound=KmirrorError)

# Authorization failures: the request needs an ACL the principal lacks.
AUTHORIZATION_FAILED = frozenset({
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
})
# A fresh cluster answers these until its group coordinator has loaded: worth waiting for.
COORDINATOR_NOT_READY = frozenset({
    KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
})
# What a broker answers to a commit for a group that has members (classic or KIP-848 groups).
GROUP_ACTIVE = frozenset({
    KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION,
    KafkaError.REBALANCE_IN_PROGRESS, KafkaError.FENCED_MEMBER_EPOCH,
    KafkaError.STALE_MEMBER_EPOCH,
})
PARTITION_EOF = KafkaError._PARTITION_EOF  # a consumer reached the end of a partition


def error_of(failure: BaseException | KafkaError | None) -> KafkaError | None:
    """The client's error inside a KafkaException (or the KafkaError itself); None for
    anything else."""
    if isinstance(failure, KafkaError):
        return failure
    if isinstance(failure, KafkaException) and failure.args \
            and isinstance(failure.args[0], KafkaError):
        return failure.args[0]
    return None


def code_of(failure: BaseException | KafkaError | None) -> int | None:
    """The client's error code of ``failure``, or None when it carries none."""
    error = error_of(failure)
    return None if error is None else int(error.code())


def retriable(failure: BaseException | KafkaError | None) -> bool:
    """True when the client deems the failed request worth trying again."""
    error = error_of(failure)
    return bool(error is not None and error.retriable())


def worth_waiting(failure: BaseException | KafkaError | None) -> bool:
    """True for a failure that a group coordinator still starting up explains (retriable, or
    one of its not-ready answers), never for a group that has active members."""
    code = code_of(failure)
    return code not in GROUP_ACTIVE and (retriable(failure) or code in COORDINATOR_NOT_READY)


def is_authorization(failure: BaseException | KafkaError | None) -> bool:
    """True when the request was refused for want of an ACL."""
    return code_of(failure) in AUTHORIZATION_FAILED


def text_of(failure: BaseException | KafkaError) -> str:
    """The client's own words for ``failure`` (librdkafka's error string when it has one)."""
    error = error_of(failure)
    return error.str() if error is not None else str(failure)


def translated(kind: type[E], message: str, failure: BaseException | KafkaError | None) -> E:
    """``kind(message)``, retriable when the client said so; raise it ``from`` the failure."""
    exc = kind(message)
    exc.retriable = retriable(failure)
    return exc
