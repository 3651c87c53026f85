"""Client errors translated at the seam (kmirror.kafka.client_errors, and the clients that use
it): fake KafkaErrors in, kmirror's exception classes with the client's retriable flag out."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from kmirror.errors import AccessDenied, BadInputError, KmirrorError, MirrorError
from kmirror.kafka.admin import Admin
from kmirror.kafka.client_errors import (
    code_of,
    error_of,
    is_authorization,
    retriable,
    translated,
    worth_waiting,
)
from kmirror.kafka.offsets_io import OffsetsClient

NOT_READY = KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS, "loading", retriable=True)
TIMED_OUT = KafkaError(KafkaError.REQUEST_TIMED_OUT, "timed out", retriable=True)
DENIED = KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED)
ACTIVE = KafkaError(KafkaError.REBALANCE_IN_PROGRESS, "rebalancing", retriable=True)


def test_the_client_error_is_found_in_an_exception_or_on_its_own() -> None:
    assert error_of(KafkaException(DENIED)) is DENIED
    assert error_of(DENIED) is DENIED
    assert error_of(KafkaException("no error object")) is None
    assert error_of(ValueError("x")) is None
    assert code_of(KafkaException(DENIED)) == KafkaError.GROUP_AUTHORIZATION_FAILED
    assert code_of(None) is None


@pytest.mark.parametrize(
    ("kind", "failure", "retry"),
    [
        (MirrorError, KafkaException(TIMED_OUT), True),
        (BadInputError, KafkaException(DENIED), False),
        (AccessDenied, DENIED, False),
        (MirrorError, None, False),  # no client error behind it (e.g. no acknowledgement)
    ],
)
def test_translated_keeps_the_class_and_message_and_carries_retriable(
    kind: type[KmirrorError], failure: Any, retry: bool,
) -> None:
    exc = translated(kind, "target cluster: cannot read end offsets: timed out", failure)
    assert type(exc) is kind
    assert str(exc) == "target cluster: cannot read end offsets: timed out"
    assert exc.retriable is retry
    assert retriable(failure) is retry


def test_our_errors_are_not_retriable_unless_the_client_said_so() -> None:
    assert KmirrorError("x").retriable is False
    assert MirrorError("x").retriable is False


def test_a_starting_coordinator_is_worth_waiting_for_an_active_group_never() -> None:
    assert worth_waiting(KafkaException(NOT_READY))
    assert worth_waiting(KafkaError(KafkaError.NOT_COORDINATOR))  # not flagged, still waited
    assert not worth_waiting(KafkaException(ACTIVE))  # retriable, but it has members
    assert not worth_waiting(KafkaException(DENIED))
    assert is_authorization(KafkaException(DENIED))
    assert not is_authorization(KafkaException(TIMED_OUT))


class FakeFuture:
    def __init__(self, error: KafkaError) -> None:
        self.error = error

    def result(self) -> Any:
        raise KafkaException(self.error)


class FailingAdmin:
    """An AdminClient whose group calls fail with one client error."""

    def __init__(self, error: KafkaError) -> None:
        self.error = error
        self.calls = 0

    def describe_consumer_groups(self, groups: list[str], **_: Any) -> dict[str, FakeFuture]:
        self.calls += 1
        return {g: FakeFuture(self.error) for g in groups}

    def alter_consumer_group_offsets(self, request: list[Any], **_: Any
                                     ) -> dict[str, FakeFuture]:
        self.calls += 1
        return {r.group_id: FakeFuture(self.error) for r in request}


def client(error: KafkaError, timeout_s: float = 5.0) -> tuple[OffsetsClient, FailingAdmin]:
    offsets = OffsetsClient({"bootstrap.servers": "127.0.0.1:1",
                             "sasl.username": "mirror"}, "target cluster", timeout_s)
    admin = FailingAdmin(error)
    offsets._admin = admin  # the transport seam: no broker
    offsets.topics = lambda: {}  # type: ignore[method-assign]
    return offsets, admin


def test_a_missing_acl_is_access_denied_with_the_line_that_grants_it() -> None:
    offsets, admin = client(DENIED)
    with pytest.raises(AccessDenied) as caught:
        offsets.group_state("billing")
    message = str(caught.value)
    assert message.startswith("target cluster (127.0.0.1:1): cannot describe group billing "
                              "(GROUP_AUTHORIZATION_FAILED); grant it with: kafka-acls.sh")
    assert "--allow-principal User:mirror --operation Describe --group 'billing'" in message
    assert caught.value.retriable is False
    assert admin.calls == 1  # not retried
    assert isinstance(caught.value.__cause__, KafkaException)


def test_a_group_with_members_refuses_the_commit_as_bad_input_at_once() -> None:
    offsets, admin = client(ACTIVE)
    with pytest.raises(BadInputError, match="refused the commit because it has active members "
                       r"\(REBALANCE_IN_PROGRESS\): stop its consumers first") as caught:
        offsets.write_offsets("billing", {("orders", 0): 5})
    assert caught.value.retriable is True  # the client's verdict, kept
    assert admin.calls == 1  # never waited for: its members own the positions


def test_a_coordinator_that_never_gets_ready_fails_retriable_after_the_timeout() -> None:
    offsets, admin = client(NOT_READY, timeout_s=0.6)
    with pytest.raises(BadInputError, match="cannot describe group billing: loading") as caught:
        offsets.group_state("billing")
    assert caught.value.retriable is True
    assert admin.calls >= 2  # asked again while it loaded


def test_committed_offsets_that_cannot_be_read_are_a_mirror_error_not_a_client_error() -> None:
    class Offsets:
        def list_consumer_group_offsets(self, request: list[Any], **_: Any
                                        ) -> dict[str, FakeFuture]:
            return {r.group_id: FakeFuture(TIMED_OUT) for r in request}

    admin = Admin({"bootstrap.servers": "127.0.0.1:1"}, "source")
    admin._client = Offsets()  # the transport seam: no broker
    with pytest.raises(MirrorError) as caught:
        admin.committed_offsets("kmirror", [("orders", 0)])
    assert str(caught.value) == ("source cluster: cannot read the committed offsets of group "
                                 "kmirror: timed out")
    assert caught.value.retriable is True
