"""Java client settings (Apache Kafka 4.x) that librdkafka does not accept under that name.

Each one says whether it belongs to consumers, producers or both, which librdkafka key means
the same (if any), and what to do about it; ``legacy.translate`` answers every such key of a
config file with it. Where the names come from: the docstring of ``kmirror.config.known_keys``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


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
