"""kmirror's exception tree.

Every expected failure is one of these, raised with a message written for the person at the
terminal: what went wrong, where (file, key, cluster, topic, partition, offset) and what to do.
Lower-level errors (the Kafka client's, the OS's) are translated at the seam with
``raise ... from exc`` so the CLI only ever has to catch ``KmirrorError``.

    KmirrorError                  exit_code 1
    ├── BadInputError             exit_code 2: the user can fix it (flags, config files)
    │   ├── ConfigError             one or more problems in config files or flags
    │   ├── ClusterUnreachable      a bootstrap address that answers nothing Kafka-like
    │   └── AccessDenied            the cluster refused for want of an ACL (the message names it)
    ├── LocalClusterError         exit_code 2: `kmirror local` could not start or stop brokers
    └── MirrorError               exit_code 1: mirroring stopped (refused record, fatal error)

Client errors are translated only in ``kmirror.kafka`` (``kmirror.kafka.client_errors``): the
class says what it means for the user, and ``retriable`` (as in aiokafka) says whether the
client deemed the same request worth trying again (a coordinator still loading, a leader
moving, a request timed out). Nothing above ``kmirror.kafka`` needs a client type or a
librdkafka error name to decide what to do.
"""

from __future__ import annotations

from collections.abc import Iterable


class KmirrorError(Exception):
    """Base of every error kmirror raises on purpose; ``exit_code`` is what the CLI returns."""

    exit_code = 1
    retriable = False
    """True when the client library reported the failed request as worth retrying."""


class BadInputError(KmirrorError):
    """Input the user can correct: nothing has been written or committed."""

    exit_code = 2


class ConfigError(BadInputError):
    """One or more problems in config files or flags, reported all at once."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ClusterUnreachable(BadInputError):
    """A cluster did not answer a metadata request in time."""


class AccessDenied(BadInputError):
    """The cluster refused for want of an ACL: the message names the ACL to add (exit 2)."""


class LocalClusterError(KmirrorError):
    """A local broker could not be fetched, started or stopped."""

    exit_code = 2


class MirrorError(KmirrorError):
    """Mirroring stopped: a record was refused or the client hit a fatal error."""
