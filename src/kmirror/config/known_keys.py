"""Configuration key catalogue for librdkafka and the Java Kafka clients.

kmirror reads consumer and producer settings from properties files written
for MirrorMaker / the Java clients and hands them to confluent-kafka, which
passes them to librdkafka.  This module knows which names librdkafka accepts
(and for which client), which Java names have no verbatim librdkafka
counterpart (and what to do about them), and can suggest the closest valid
name for "did you mean ...?" messages.

Sources:

* ``LIBRDKAFKA_KEYS`` is librdkafka 2.16.0's ``CONFIGURATION.md`` (global and
  topic tables, the C/P column), cross-checked against the table printed by
  ``rd_kafka_conf_properties_show()`` of the librdkafka bundled with
  confluent-kafka 2.16.1.  Properties whose type is a pointer or callback
  ("see dedicated API": ``opaque``, ``*_cb``, ``default_topic_conf``,
  ``interceptors``, ``ssl_key``, ``ssl_certificate``, ``ssl_ca``,
  ``ssl_engine_callback_data``, ``msg_order_cmp``, ...) are left out: they
  cannot be set from a properties file.  Undocumented (hidden) properties
  such as ``client.software.name`` are left out as well.
* ``JAVA_ONLY_KEYS`` (its table is in ``kmirror.config.java_keys``) covers
  ``CommonClientConfigs``, ``ConsumerConfig``, ``ProducerConfig``,
  ``SaslConfigs``, ``SslConfigs`` and ``SecurityConfig`` of the Apache Kafka
  4.x Java clients, restricted to names librdkafka does not accept verbatim.

Caveats worth knowing when building a client configuration:

* ``delivery.report.only.error`` is intercepted by confluent-kafka's Python
  layer and must be a ``bool``, not the string read from a file.
* ``sasl.jaas.config`` and ``ssl.truststore.location`` are known to librdkafka
  only so that it can reject them with a hint; they are in ``JAVA_ONLY_KEYS``.
* ``ssl.keystore.location`` and ``ssl.keystore.password`` are librdkafka
  names too, but librdkafka reads PKCS#12 only where Java reads JKS as well;
  ``kmirror.config.keystores`` converts Java stores (and truststores).
* ``ssl.ca.certificate.stores`` is a known name but is rejected on anything
  other than Windows ("not supported in this build").
* Several names are shared but take different values, e.g.
  ``partition.assignment.strategy`` (Java class names vs ``range``,
  ``roundrobin``, ``cooperative-sticky``), ``acks`` (``all`` is accepted by
  both) or ``ssl.endpoint.identification.algorithm`` (Java disables it with
  an empty string, librdkafka with ``none``; ``legacy.translate`` maps it).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from kmirror.config.java_keys import JAVA_ONLY_KEYS, JavaKey

__all__ = [
    "JAVA_ONLY_KEYS",
    "LIBRDKAFKA_KEYS",
    "SCOPE_BOTH",
    "SCOPE_CONSUMER",
    "SCOPE_PRODUCER",
    "JavaKey",
    "closest_key",
    "key_scope",
]

SCOPE_BOTH: Final = "*"
"""The key applies to consumers and producers."""
SCOPE_CONSUMER: Final = "C"
"""The key applies to consumers only."""
SCOPE_PRODUCER: Final = "P"
"""The key applies to producers only."""

LIBRDKAFKA_KEYS: Final[Mapping[str, str]] = MappingProxyType(
    {
        # --- Global configuration properties ---
        "builtin.features": "*",
        "client.id": "*",
        "metadata.broker.list": "*",
        "bootstrap.servers": "*",
        "message.max.bytes": "*",
        "message.copy.max.bytes": "*",
        "receive.message.max.bytes": "*",
        "max.in.flight.requests.per.connection": "*",
        "max.in.flight": "*",
        "metadata.recovery.strategy": "*",
        "metadata.recovery.rebootstrap.trigger.ms": "*",
        "topic.metadata.refresh.interval.ms": "*",
        "metadata.max.age.ms": "*",
        "topic.metadata.refresh.fast.interval.ms": "*",
        "topic.metadata.refresh.fast.cnt": "*",
        "topic.metadata.refresh.sparse": "*",
        "topic.metadata.propagation.max.ms": "*",
        "topic.blacklist": "*",
        "debug": "*",
        "socket.timeout.ms": "*",
        "socket.blocking.max.ms": "*",
        "socket.send.buffer.bytes": "*",
        "socket.receive.buffer.bytes": "*",
        "socket.keepalive.enable": "*",
        "socket.nagle.disable": "*",
        "socket.max.fails": "*",
        "broker.address.ttl": "*",
        "broker.address.family": "*",
        "socket.connection.setup.timeout.ms": "*",
        "connections.max.idle.ms": "*",
        "reconnect.backoff.jitter.ms": "*",
        "reconnect.backoff.ms": "*",
        "reconnect.backoff.max.ms": "*",
        "statistics.interval.ms": "*",
        "enabled_events": "*",
        "log_level": "*",
        "log.queue": "*",
        "log.thread.name": "*",
        "enable.random.seed": "*",
        "log.connection.close": "*",
        "internal.termination.signal": "*",
        "api.version.request": "*",
        "api.version.request.timeout.ms": "*",
        "api.version.fallback.ms": "*",
        "broker.version.fallback": "*",
        "allow.auto.create.topics": "*",
        "security.protocol": "*",
        "ssl.cipher.suites": "*",
        "ssl.curves.list": "*",
        "ssl.sigalgs.list": "*",
        "ssl.key.location": "*",
        "ssl.key.password": "*",
        "ssl.key.pem": "*",
        "ssl.certificate.location": "*",
        "ssl.certificate.pem": "*",
        "ssl.ca.location": "*",
        "https.ca.location": "*",
        "https.ca.pem": "*",
        "ssl.ca.pem": "*",
        "ssl.ca.certificate.stores": "*",
        "ssl.crl.location": "*",
        "ssl.keystore.location": "*",
        "ssl.keystore.password": "*",
        "ssl.providers": "*",
        "ssl.engine.location": "*",
        "ssl.engine.id": "*",
        "enable.ssl.certificate.verification": "*",
        "ssl.endpoint.identification.algorithm": "*",
        "sasl.mechanisms": "*",
        "sasl.mechanism": "*",
        "sasl.kerberos.service.name": "*",
        "sasl.kerberos.principal": "*",
        "sasl.kerberos.kinit.cmd": "*",
        "sasl.kerberos.keytab": "*",
        "sasl.kerberos.min.time.before.relogin": "*",
        "sasl.username": "*",
        "sasl.password": "*",
        "sasl.oauthbearer.config": "*",
        "enable.sasl.oauthbearer.unsecure.jwt": "*",
        "sasl.oauthbearer.method": "*",
        "sasl.oauthbearer.client.id": "*",
        "sasl.oauthbearer.client.credentials.client.id": "*",
        "sasl.oauthbearer.client.credentials.client.secret": "*",
        "sasl.oauthbearer.client.secret": "*",
        "sasl.oauthbearer.scope": "*",
        "sasl.oauthbearer.extensions": "*",
        "sasl.oauthbearer.token.endpoint.url": "*",
        "sasl.oauthbearer.sub.claim.name": "*",
        "sasl.oauthbearer.grant.type": "*",
        "sasl.oauthbearer.assertion.algorithm": "*",
        "sasl.oauthbearer.assertion.private.key.file": "*",
        "sasl.oauthbearer.assertion.private.key.passphrase": "*",
        "sasl.oauthbearer.assertion.private.key.pem": "*",
        "sasl.oauthbearer.assertion.file": "*",
        "sasl.oauthbearer.assertion.claim.aud": "*",
        "sasl.oauthbearer.assertion.claim.exp.seconds": "*",
        "sasl.oauthbearer.assertion.claim.iss": "*",
        "sasl.oauthbearer.assertion.claim.jti.include": "*",
        "sasl.oauthbearer.assertion.claim.nbf.seconds": "*",
        "sasl.oauthbearer.assertion.claim.sub": "*",
        "sasl.oauthbearer.assertion.jwt.template.file": "*",
        "sasl.oauthbearer.metadata.authentication.type": "*",
        "plugin.library.paths": "*",
        "group.id": "C",
        "group.instance.id": "C",
        "partition.assignment.strategy": "C",
        "session.timeout.ms": "C",
        "heartbeat.interval.ms": "C",
        "group.protocol.type": "C",
        "group.protocol": "C",
        "group.remote.assignor": "C",
        "coordinator.query.interval.ms": "C",
        "max.poll.interval.ms": "C",
        "enable.auto.commit": "C",
        "auto.commit.interval.ms": "C",
        "enable.auto.offset.store": "C",
        "queued.min.messages": "C",
        "queued.max.messages.kbytes": "C",
        "fetch.wait.max.ms": "C",
        "fetch.queue.backoff.ms": "C",
        "fetch.message.max.bytes": "C",
        "max.partition.fetch.bytes": "C",
        "fetch.max.bytes": "C",
        "fetch.min.bytes": "C",
        "fetch.error.backoff.ms": "C",
        "offset.store.method": "C",
        "isolation.level": "C",
        "enable.partition.eof": "C",
        "check.crcs": "C",
        "client.rack": "*",
        "max.poll.records": "C",
        "share.acknowledgement.mode": "C",
        "transactional.id": "P",
        "transaction.timeout.ms": "P",
        "enable.idempotence": "P",
        "enable.gapless.guarantee": "P",
        "queue.buffering.max.messages": "P",
        "queue.buffering.max.kbytes": "P",
        "queue.buffering.max.ms": "P",
        "linger.ms": "P",
        "message.send.max.retries": "P",
        "retries": "P",
        "retry.backoff.ms": "*",
        "retry.backoff.max.ms": "*",
        "queue.buffering.backpressure.threshold": "P",
        "compression.codec": "P",
        "compression.type": "P",
        "batch.num.messages": "P",
        "batch.size": "P",
        "delivery.report.only.error": "P",
        "sticky.partitioning.linger.ms": "P",
        "client.dns.lookup": "*",
        "enable.metrics.push": "*",
        # --- Topic configuration properties (accepted in the same dict) ---
        # compression.codec, compression.type, enable.auto.commit,
        # auto.commit.interval.ms and offset.store.method are also topic-level
        # properties; they are listed once above, with the same scope.
        "request.required.acks": "P",
        "acks": "P",
        "request.timeout.ms": "P",
        "message.timeout.ms": "P",
        "delivery.timeout.ms": "P",
        "queuing.strategy": "P",
        "produce.offset.report": "P",
        "partitioner": "P",
        "compression.level": "P",
        "auto.commit.enable": "C",
        "auto.offset.reset": "C",
        "offset.store.path": "C",
        "offset.store.sync.interval.ms": "C",
        "consume.callback.max.messages": "C",
    }
)
"""Every settable librdkafka 2.16 property name, mapped to "*", "C" or "P"."""


_SIMILARITY_CUTOFF: Final = 0.6


def _check_scope(scope: str) -> None:
    if scope not in (SCOPE_CONSUMER, SCOPE_PRODUCER):
        msg = f"scope must be {SCOPE_CONSUMER!r} or {SCOPE_PRODUCER!r}, got {scope!r}"
        raise ValueError(msg)


def _allowed(key_scope_: str, scope: str) -> bool:
    return key_scope_ in (SCOPE_BOTH, scope)


@functools.cache
def _candidates(scope: str) -> tuple[str, ...]:
    rdkafka = [k for k, s in LIBRDKAFKA_KEYS.items() if _allowed(s, scope)]
    java = [k for k, j in JAVA_ONLY_KEYS.items() if _allowed(j.scope, scope)]
    return (*rdkafka, *java)


def key_scope(name: str) -> str | None:
    """Return the librdkafka scope of ``name``: "*", "C", "P", or ``None``.

    ``None`` means librdkafka does not know the name (it may still be a Java
    client setting, see ``JAVA_ONLY_KEYS``).
    """
    return LIBRDKAFKA_KEYS.get(name)


def closest_key(name: str, scope: str) -> str | None:
    """Return the valid key most similar to ``name`` for a config file.

    ``scope`` is "C" for a consumer config file or "P" for a producer one.
    Candidates are the librdkafka keys allowed in that scope plus the Java
    client keys of that scope (so a caller can follow up with
    ``JAVA_ONLY_KEYS`` advice).  Returns ``None`` when nothing is similar
    enough (difflib ratio below 0.6).  Raises ``ValueError`` for any other
    scope.
    """
    _check_scope(scope)
    matches = difflib.get_close_matches(
        name.strip().lower(), _candidates(scope), n=1, cutoff=_SIMILARITY_CUTOFF
    )
    return matches[0] if matches else None
