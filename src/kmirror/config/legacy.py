"""Answers for configuration keys from the classic MirrorMaker era and the Java clients.

``translate`` walks one parsed ``.properties`` file and returns the librdkafka settings to use,
the warnings to print (deprecated but mapped, ignored with a reason) and the problems that stop
the run (ZooKeeper addresses, unknown keys, settings that would lose data). Every message names
the file and the key, and says what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kmirror.config.keystores import STORE_KEYS, translate_stores
from kmirror.config.known_keys import JAVA_ONLY_KEYS, closest_key, key_scope
from kmirror.config.translation import Translation

Scope = str  # "C" for a consumer (source) config file, "P" for the producer (target) one
_SCOPE_NAMES = {"C": "consumer", "P": "producer"}


# Old name -> modern librdkafka name, mapped with a deprecation warning.
_RENAMED: Mapping[str, str] = {
    "broker.list": "bootstrap.servers",
    "metadata.broker.list": "bootstrap.servers",
    "groupid": "group.id",
    "socket.buffersize": "socket.receive.buffer.bytes",
    "fetch.size": "max.partition.fetch.bytes",
    "fetch.message.max.bytes": "max.partition.fetch.bytes",
    "compression.codec": "compression.type",
    "request.required.acks": "acks",
}

# Old keys that no longer mean anything for kmirror, each with the reason.
_EXPLAINED: Mapping[str, str] = {
    "queue.enqueueTimeout.ms": "kmirror always blocks when the producer queue is full (the "
    "consumer pauses) and never drops a record, which is what -1 asked for; remove it",
    "queue.enqueue.timeout.ms": "kmirror always blocks when the producer queue is full and "
    "never drops a record; remove it",
    "producer.type": "kmirror always sends asynchronously and commits source offsets only "
    "after the target acknowledged; remove it",
    "autocommit.enable": "kmirror commits source offsets itself, only after the target "
    "acknowledged; remove it",
    "auto.commit.enable": "kmirror commits source offsets itself, only after the target "
    "acknowledged; remove it",
    "enable.auto.commit": "kmirror commits source offsets itself, only after the target "
    "acknowledged; remove it",
    "auto.commit.interval.ms": "use the --offset.commit.interval.ms flag instead",
    "autocommit.interval.ms": "use the --offset.commit.interval.ms flag instead",
    "consumer.timeout.ms": "kmirror runs until stopped (or use --until-caught-up); remove it",
    "serializer.class": "kmirror copies raw bytes; remove it",
    "key.serializer.class": "kmirror copies raw bytes; remove it",
    "partitioner.class": "kmirror keeps source partition p in target partition p; remove it",
    "zookeeper.session.timeout.ms": "ZooKeeper is not used since Kafka 4.0; remove it",
    "zookeeper.connection.timeout.ms": "ZooKeeper is not used since Kafka 4.0; remove it",
    "zookeeper.sync.time.ms": "ZooKeeper is not used since Kafka 4.0; remove it",
    "mirror.topics.whitelist": "use the --whitelist/--include flag instead",
    "mirror.topics.blacklist": "use the --blacklist/--exclude flag instead",
}

# kmirror's own keys (and the classic one it gives a meaning again), taken out of the
# client's settings before librdkafka sees them.
KMIRROR_KEYS = ("kmirror.cluster.alias", "shallow.iterator.enable")
_ZOOKEEPER_KEYS = ("zk.connect", "zookeeper.connect")
_OFFSET_RESET = {"smallest": "earliest", "largest": "latest"}
_OLD_CODECS = {"0": "none", "1": "gzip", "2": "snappy", "3": "lz4", "4": "zstd"}
_ENDPOINT_CHECK = "ssl.endpoint.identification.algorithm"
_JAAS = re.compile(r'(username|password)\s*=\s*"((?:[^"\\]|\\.)*)"')


def translate(path: str, raw: Mapping[str, str], scope: Scope) -> Translation:
    """Translate one file's keys into librdkafka settings, warnings and problems.

    Only TLS stores (``ssl.truststore.*``, ``ssl.keystore.*``) make it read files, and
    convert them when librdkafka cannot read them (see ``kmirror.config.keystores``).
    """
    out = Translation()
    stores: dict[str, str] = {}
    for key, value in raw.items():
        where = f"{path}: {key}"
        if key in KMIRROR_KEYS:
            out.settings[key] = value  # kmirror's own, taken out before the client sees it
            continue
        if key in _ZOOKEEPER_KEYS:
            out.problems.append(
                f"{where}: ZooKeeper addresses are not used since Kafka 4.0 (KRaft); connect "
                f"to the brokers instead: write `bootstrap.servers=HOST:9092[,HOST2:9092]` "
                f"(a broker listener, not the ZooKeeper port) and remove {key}"
            )
            continue
        if key in _EXPLAINED:
            out.warnings.append(f"{where}: ignored: {_EXPLAINED[key]}")
            continue
        if key in _RENAMED and _RENAMED[key] != key:
            modern = _RENAMED[key]
            out.warnings.append(f"{where}: deprecated, read as {modern} (rename it)")
            key, where = modern, f"{where} ({modern})"
        if key == "auto.offset.reset" and value in _OFFSET_RESET:
            out.warnings.append(
                f"{where}={value}: deprecated value, read as {_OFFSET_RESET[value]}"
            )
            value = _OFFSET_RESET[value]
        if key == "compression.type" and value in _OLD_CODECS:
            value = _OLD_CODECS[value]
        if key == "sasl.jaas.config":
            _translate_jaas(where, value, out)
            continue
        if key in STORE_KEYS:
            stores[key] = value  # answered together, once every other key is known
            continue
        if key == _ENDPOINT_CHECK:
            _translate_endpoint_check(where, value, out)
            continue
        if key in JAVA_ONLY_KEYS:
            java = JAVA_ONLY_KEYS[key]
            if java.translation:
                out.warnings.append(f"{where}: Java client name, read as {java.translation}")
                out.settings[java.translation] = value
            else:
                out.warnings.append(f"{where}: ignored: {java.advice}")
            continue
        known = key_scope(key)
        if known is None:
            suggestion = closest_key(key, scope)
            hint = f"; did you mean {suggestion}?" if suggestion else ""
            out.problems.append(f"{where}: unknown setting{hint}")
            continue
        if known not in ("*", scope):
            other = _SCOPE_NAMES.get(known, known)
            out.warnings.append(
                f"{where}: a {other} setting in a {_SCOPE_NAMES[scope]} config: ignored "
                f"(move it to the --{other}.config file)"
            )
            continue
        out.settings[key] = value
    if stores:
        translate_stores(path, stores, out)
    return out


def _translate_endpoint_check(where: str, value: str, out: Translation) -> None:
    """Java turns the broker hostname check off with an empty value, librdkafka with none."""
    check = value.strip().lower()
    if check in ("https", "none"):
        out.settings[_ENDPOINT_CHECK] = check
    elif not check:
        out.settings[_ENDPOINT_CHECK] = "none"
        out.warnings.append(
            f"{where}: empty (Java: no broker hostname check): read as none; write "
            "`ssl.endpoint.identification.algorithm=none` to keep it off, or https to check"
        )
    else:
        out.problems.append(
            f"{where}={value}: write https (check the broker's hostname against its "
            "certificate, the default) or none (do not check)"
        )


def _translate_jaas(where: str, value: str, out: Translation) -> None:
    """Take user and password out of a Java JAAS line for PLAIN/SCRAM."""
    found = {k: re.sub(r"\\(.)", r"\1", v) for k, v in _JAAS.findall(value)}
    if "PlainLoginModule" in value or "ScramLoginModule" in value:
        if "username" in found and "password" in found:
            out.settings["sasl.username"] = found["username"]
            out.settings["sasl.password"] = found["password"]
            out.warnings.append(f"{where}: read as sasl.username/sasl.password")
            return
        out.problems.append(
            f"{where}: no username=\"...\" password=\"...\" pair found; "
            "write sasl.username and sasl.password instead"
        )
        return
    out.problems.append(
        f"{where}: only PlainLoginModule and ScramLoginModule lines can be translated; "
        "write the librdkafka sasl.* settings instead"
    )
