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
* ``JAVA_ONLY_KEYS`` covers ``CommonClientConfigs``, ``ConsumerConfig``,
  ``ProducerConfig``, ``SaslConfigs``, ``SslConfigs`` and ``SecurityConfig``
  of the Apache Kafka 4.x Java clients, restricted to names librdkafka does
  not accept verbatim.

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
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

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


@dataclass(frozen=True, slots=True)
class JavaKey:
    """A Java client setting that librdkafka does not accept under that name.

    ``scope`` is "*", "C" or "P" as for ``LIBRDKAFKA_KEYS``; ``translation``
    is the librdkafka key with the same meaning, or ``None`` when there is
    none (or the unit or format differs); ``advice`` says what to do.
    """

    scope: str
    translation: str | None
    advice: str


def _j(scope: str, translation: str | None, advice: str) -> JavaKey:
    return JavaKey(scope=scope, translation=translation, advice=advice)


_RAW_BYTES = "kmirror copies raw bytes; remove it."
_NO_JAVA_PLUGINS = "librdkafka cannot load Java classes; remove it."
_NO_JAVA_METRICS = (
    "librdkafka has no Java metrics subsystem; remove it (kmirror exposes its own metrics)."
)
_BROKER_SIDE_OAUTH = "This only configures token validation on the broker side; remove it."
_SASL_LOGIN_TUNING = "librdkafka schedules SASL/OAUTHBEARER token refresh itself; remove it."
_COMPRESSION_LEVEL = (
    "Use compression.level, which applies to the codec selected by "
    "compression.type (librdkafka range -1..12)."
)

JAVA_ONLY_KEYS: Final[Mapping[str, JavaKey]] = MappingProxyType(
    {
        # --- CommonClientConfigs / AbstractConfig / SecurityConfig ---
        "send.buffer.bytes": _j(
            "*",
            "socket.send.buffer.bytes",
            "Rename it to socket.send.buffer.bytes (0 means the OS default).",
        ),
        "receive.buffer.bytes": _j(
            "*",
            "socket.receive.buffer.bytes",
            "Rename it to socket.receive.buffer.bytes (0 means the OS default).",
        ),
        "socket.connection.setup.timeout.max.ms": _j(
            "*",
            None,
            "librdkafka uses a fixed socket.connection.setup.timeout.ms; "
            "remove it or set that instead.",
        ),
        "default.api.timeout.ms": _j(
            "*",
            None,
            "kmirror sets its own per-call timeouts; remove it.",
        ),
        "metrics.sample.window.ms": _j("*", None, _NO_JAVA_METRICS),
        "metrics.num.samples": _j("*", None, _NO_JAVA_METRICS),
        "metrics.recording.level": _j("*", None, _NO_JAVA_METRICS),
        "metric.reporters": _j("*", None, _NO_JAVA_METRICS),
        "interceptor.classes": _j("*", None, _NO_JAVA_PLUGINS),
        "security.providers": _j(
            "*",
            None,
            "Java security providers do not apply; remove it "
            "(OpenSSL providers are set with ssl.providers).",
        ),
        "config.providers": _j(
            "*",
            None,
            "Config providers are not supported; write the literal value instead.",
        ),
        # --- ConsumerConfig ---
        "fetch.max.wait.ms": _j(
            "C",
            "fetch.wait.max.ms",
            "Rename it to fetch.wait.max.ms.",
        ),
        "key.deserializer": _j("C", None, _RAW_BYTES),
        "value.deserializer": _j("C", None, _RAW_BYTES),
        "exclude.internal.topics": _j(
            "C",
            None,
            "Remove it; kmirror's topic selection decides which topics are mirrored.",
        ),
        "share.acquire.mode": _j(
            "C",
            None,
            "kmirror does not use share groups; remove it.",
        ),
        # --- ProducerConfig ---
        "buffer.memory": _j(
            "P",
            None,
            "Use queue.buffering.max.kbytes instead, converting bytes to "
            "kilobytes (divide by 1024).",
        ),
        "max.request.size": _j(
            "P",
            "message.max.bytes",
            "Rename it to message.max.bytes.",
        ),
        "max.block.ms": _j(
            "P",
            None,
            "librdkafka never blocks on send; remove it (queue limits are set "
            "with queue.buffering.max.messages and queue.buffering.max.kbytes).",
        ),
        "metadata.max.idle.ms": _j(
            "P",
            None,
            "librdkafka has no idle-topic metadata expiry; remove it.",
        ),
        "key.serializer": _j("P", None, _RAW_BYTES),
        "value.serializer": _j("P", None, _RAW_BYTES),
        "partitioner.class": _j(
            "P",
            None,
            "Use partitioner with a built-in name instead "
            "(murmur2_random matches the Java default partitioner).",
        ),
        "partitioner.adaptive.partitioning.enable": _j(
            "P",
            None,
            "librdkafka has no adaptive partitioning; remove it.",
        ),
        "partitioner.availability.timeout.ms": _j(
            "P",
            None,
            "librdkafka has no adaptive partitioning; remove it.",
        ),
        "partitioner.ignore.keys": _j(
            "P",
            None,
            "Use partitioner=random to ignore record keys, or remove it.",
        ),
        "compression.gzip.level": _j("P", "compression.level", _COMPRESSION_LEVEL),
        "compression.lz4.level": _j("P", "compression.level", _COMPRESSION_LEVEL),
        "compression.zstd.level": _j("P", "compression.level", _COMPRESSION_LEVEL),
        "transaction.two.phase.commit.enable": _j(
            "P",
            None,
            "librdkafka does not support two-phase-commit transactions; remove it.",
        ),
        # --- SaslConfigs ---
        "sasl.jaas.config": _j(
            "*",
            None,
            "For PLAIN and SCRAM kmirror extracts the username and password "
            "into sasl.username and sasl.password; for other mechanisms use "
            "the dedicated sasl.* keys.",
        ),
        "sasl.client.callback.handler.class": _j("*", None, _NO_JAVA_PLUGINS),
        "sasl.login.callback.handler.class": _j(
            "*",
            None,
            "Remove it; for OIDC set sasl.oauthbearer.method=oidc and the sasl.oauthbearer.* keys.",
        ),
        "sasl.login.class": _j("*", None, _NO_JAVA_PLUGINS),
        "sasl.kerberos.ticket.renew.window.factor": _j(
            "*",
            None,
            "librdkafka renews tickets with sasl.kerberos.kinit.cmd every "
            "sasl.kerberos.min.time.before.relogin; remove it.",
        ),
        "sasl.kerberos.ticket.renew.jitter": _j(
            "*",
            None,
            "librdkafka renews tickets with sasl.kerberos.kinit.cmd every "
            "sasl.kerberos.min.time.before.relogin; remove it.",
        ),
        "sasl.login.refresh.window.factor": _j("*", None, _SASL_LOGIN_TUNING),
        "sasl.login.refresh.window.jitter": _j("*", None, _SASL_LOGIN_TUNING),
        "sasl.login.refresh.min.period.seconds": _j("*", None, _SASL_LOGIN_TUNING),
        "sasl.login.refresh.buffer.seconds": _j("*", None, _SASL_LOGIN_TUNING),
        "sasl.login.connect.timeout.ms": _j("*", None, _SASL_LOGIN_TUNING),
        "sasl.login.read.timeout.ms": _j("*", None, _SASL_LOGIN_TUNING),
        "sasl.login.retry.backoff.ms": _j("*", None, _SASL_LOGIN_TUNING),
        "sasl.login.retry.backoff.max.ms": _j("*", None, _SASL_LOGIN_TUNING),
        "sasl.oauthbearer.jwt.retriever.class": _j(
            "*",
            None,
            "Use sasl.oauthbearer.method=oidc with sasl.oauthbearer.grant.type instead.",
        ),
        "sasl.oauthbearer.jwt.validator.class": _j("*", None, _NO_JAVA_PLUGINS),
        "sasl.oauthbearer.assertion.template.file": _j(
            "*",
            "sasl.oauthbearer.assertion.jwt.template.file",
            "Rename it to sasl.oauthbearer.assertion.jwt.template.file.",
        ),
        "sasl.oauthbearer.scope.claim.name": _j("*", None, _BROKER_SIDE_OAUTH),
        "sasl.oauthbearer.jwks.endpoint.url": _j("*", None, _BROKER_SIDE_OAUTH),
        "sasl.oauthbearer.jwks.endpoint.refresh.ms": _j(
            "*",
            None,
            _BROKER_SIDE_OAUTH,
        ),
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms": _j(
            "*",
            None,
            _BROKER_SIDE_OAUTH,
        ),
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms": _j(
            "*",
            None,
            _BROKER_SIDE_OAUTH,
        ),
        "sasl.oauthbearer.clock.skew.seconds": _j("*", None, _BROKER_SIDE_OAUTH),
        "sasl.oauthbearer.expected.audience": _j("*", None, _BROKER_SIDE_OAUTH),
        "sasl.oauthbearer.expected.issuer": _j("*", None, _BROKER_SIDE_OAUTH),
        "sasl.oauthbearer.header.urlencode": _j(
            "*",
            None,
            "librdkafka has no option to URL-encode the client credentials; remove it.",
        ),
        # --- SslConfigs ---
        "ssl.protocol": _j(
            "*",
            None,
            "OpenSSL negotiates the TLS version; remove it.",
        ),
        "ssl.enabled.protocols": _j(
            "*",
            None,
            "OpenSSL negotiates the TLS version; remove it.",
        ),
        "ssl.provider": _j(
            "*",
            None,
            "Java security providers do not apply; remove it "
            "(OpenSSL providers are set with ssl.providers).",
        ),
        "ssl.keystore.type": _j(
            "*",
            None,
            "librdkafka's ssl.keystore.location only reads PKCS#12; kmirror reads the "
            "format from the file and converts JKS/JCEKS (with keytool), or passes a PEM "
            "keystore as ssl.certificate.location and ssl.key.location.",
        ),
        "ssl.keystore.key": _j(
            "*",
            "ssl.key.pem",
            "Rename it to ssl.key.pem.",
        ),
        "ssl.keystore.certificate.chain": _j(
            "*",
            "ssl.certificate.pem",
            "Rename it to ssl.certificate.pem.",
        ),
        "ssl.truststore.certificates": _j(
            "*",
            "ssl.ca.pem",
            "Rename it to ssl.ca.pem.",
        ),
        "ssl.truststore.location": _j(
            "*",
            None,
            "librdkafka reads a PEM file of CA certificates from ssl.ca.location; kmirror "
            "uses a PEM truststore as it is and converts JKS/JCEKS (with keytool) and PKCS12 "
            "ones to such a file.",
        ),
        "ssl.truststore.password": _j(
            "*",
            None,
            "Only needed to open a JKS or PKCS12 truststore; PEM CA files have no password.",
        ),
        "ssl.truststore.type": _j(
            "*",
            None,
            "kmirror reads the truststore's format from the file; ssl.ca.location is PEM.",
        ),
        "ssl.keymanager.algorithm": _j(
            "*",
            None,
            "This is a Java JSSE setting; remove it.",
        ),
        "ssl.trustmanager.algorithm": _j(
            "*",
            None,
            "This is a Java JSSE setting; remove it.",
        ),
        "ssl.secure.random.implementation": _j(
            "*",
            None,
            "This is a Java JSSE setting; remove it.",
        ),
        "ssl.engine.factory.class": _j("*", None, _NO_JAVA_PLUGINS),
    }
)
"""Java client settings (Kafka 4.x) that librdkafka does not accept verbatim."""


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
