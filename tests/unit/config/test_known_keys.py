"""Tests for kmirror.config.known_keys (no broker needed)."""

from __future__ import annotations

import ctypes
import re
import sys
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka import Consumer, KafkaException, Producer

from kmirror.config.known_keys import (
    JAVA_ONLY_KEYS,
    LIBRDKAFKA_KEYS,
    JavaKey,
    closest_key,
    key_scope,
)

_NO_SUCH = "No such configuration property"

# log_level 0 keeps librdkafka's CONFWARN lines (no bootstrap.servers, ...) quiet.
_PRODUCER_BASE: dict[str, Any] = {"log_level": "0"}
_CONSUMER_BASE: dict[str, Any] = {"group.id": "kmirror-known-keys-test", "log_level": "0"}

# A plausible value for every key; only the name matters here, so a value error is fine.
# These overrides avoid side effects (signals, dlopen, log noise) or a Python-layer type check.
_SAMPLE_OVERRIDES: dict[str, Any] = {
    "internal.termination.signal": "0",
    "plugin.library.paths": "",
    "debug": "",
    "log_level": "0",
    "log.queue": "false",
    "enabled_events": "0",
    "statistics.interval.ms": "0",
    "delivery.report.only.error": True,  # confluent-kafka insists on a bool here
}


def _sample_value(name: str) -> Any:
    return _SAMPLE_OVERRIDES.get(name, "1")


def _construct(name: str, value: Any, consumer: bool) -> str | None:
    """Build a client with ``{name: value}``; return the error text, or None if it worked."""
    try:
        if consumer:
            Consumer({**_CONSUMER_BASE, name: value}).close()
        else:
            client = Producer({**_PRODUCER_BASE, name: value})
            del client
    except (KafkaException, ValueError, TypeError) as exc:
        return str(exc)
    return None


def test_every_librdkafka_key_is_accepted_by_confluent_kafka() -> None:
    unknown = {}
    for name, scope in LIBRDKAFKA_KEYS.items():
        error = _construct(name, _sample_value(name), consumer=scope == "C")
        if error is not None and _NO_SUCH in error:
            unknown[name] = error
    assert unknown == {}


# librdkafka knows these two Java names only to reject them with a pointer to its wiki.
_REJECTED_WITH_HINT = {
    "sasl.jaas.config": "Java JAAS configuration is not supported",
    "ssl.truststore.location": "Java TrustStores are not supported",
}


def test_java_only_keys_are_rejected_by_confluent_kafka() -> None:
    accepted = {}
    for name, java in JAVA_ONLY_KEYS.items():
        error = _construct(name, "1", consumer=java.scope == "C")
        expected = _REJECTED_WITH_HINT.get(name, _NO_SUCH)
        if error is None or expected not in error:
            accepted[name] = error
    assert accepted == {}


def _bundled_librdkafka() -> ctypes.CDLL:
    if not sys.platform.startswith("linux"):
        pytest.skip("reads the property table through libc's fopen (Linux only)")
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    if not found:
        pytest.skip("confluent-kafka does not bundle its own librdkafka here")
    lib = ctypes.CDLL(str(found[0]))
    lib.rd_kafka_version_str.restype = ctypes.c_char_p
    version = lib.rd_kafka_version_str().decode()
    if version != confluent_kafka.libversion()[0]:
        pytest.skip(f"{found[0]} is {version}, not the librdkafka confluent-kafka uses")
    return lib


def test_table_matches_bundled_librdkafka(tmp_path: Path) -> None:
    """LIBRDKAFKA_KEYS equals what rd_kafka_conf_properties_show() prints, minus callbacks."""
    lib = _bundled_librdkafka()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_conf_properties_show.argtypes = [ctypes.c_void_p]
    out = tmp_path / "CONFIGURATION.md"
    handle = libc.fopen(str(out).encode(), b"w")
    assert handle
    try:
        lib.rd_kafka_conf_properties_show(handle)
    finally:
        libc.fclose(handle)

    shown: dict[str, str] = {}
    row = re.compile(r"^([a-z0-9_.]+)\s*\|\s*([*CP])\s*\|.*\*Type: ([^*]+)\*")
    for line in out.read_text().splitlines():
        match = row.match(line)
        if match and match.group(3) not in ("see dedicated API", "pointer"):
            assert shown.setdefault(match.group(1), match.group(2)) == match.group(2)
    assert dict(LIBRDKAFKA_KEYS) == shown


def test_aliases_and_topic_level_keys_are_present() -> None:
    for name in (
        "bootstrap.servers",
        "metadata.broker.list",
        "delivery.timeout.ms",
        "message.timeout.ms",
        "linger.ms",
        "retries",
        "batch.size",
        "acks",
        "request.required.acks",
        "compression.type",
        "auto.offset.reset",
        "partitioner",
    ):
        assert name in LIBRDKAFKA_KEYS, name


def test_callback_and_pointer_keys_are_excluded() -> None:
    for name in ("opaque", "error_cb", "dr_msg_cb", "default_topic_conf", "interceptors"):
        assert name not in LIBRDKAFKA_KEYS
    assert not [name for name in LIBRDKAFKA_KEYS if name.endswith("_cb")]


def test_scopes_are_valid() -> None:
    assert set(LIBRDKAFKA_KEYS.values()) == {"*", "C", "P"}
    assert {java.scope for java in JAVA_ONLY_KEYS.values()} <= {"*", "C", "P"}


def test_key_scope() -> None:
    assert key_scope("linger.ms") == "P"
    assert key_scope("fetch.wait.max.ms") == "C"
    assert key_scope("bootstrap.servers") == "*"
    assert key_scope("fetch.max.wait.ms") is None
    assert key_scope("no.such.key") is None


def test_closest_key() -> None:
    assert closest_key("bootstrap.server", "C") == "bootstrap.servers"
    assert closest_key("bootstrap.server", "P") == "bootstrap.servers"
    assert closest_key("Bootstrap.Servers", "P") == "bootstrap.servers"
    assert closest_key("fetch.max.wait", "C") == "fetch.max.wait.ms"
    assert closest_key("buffer.memori", "P") == "buffer.memory"
    assert closest_key("zzzzzz", "C") is None


def test_closest_key_respects_scope() -> None:
    assert closest_key("linger.m", "P") == "linger.ms"
    assert closest_key("linger.m", "C") != "linger.ms"
    assert closest_key("group.idd", "C") == "group.id"
    assert closest_key("group.idd", "P") != "group.id"


def test_closest_key_rejects_bad_scope() -> None:
    with pytest.raises(ValueError):
        closest_key("linger.ms", "*")


def test_java_only_keys_are_not_librdkafka_keys() -> None:
    assert not set(JAVA_ONLY_KEYS) & set(LIBRDKAFKA_KEYS)


def test_java_translations_are_librdkafka_keys_of_a_compatible_scope() -> None:
    for name, java in JAVA_ONLY_KEYS.items():
        assert isinstance(java, JavaKey)
        assert java.advice.strip(), name
        if java.translation is not None:
            assert java.translation in LIBRDKAFKA_KEYS, name
            assert LIBRDKAFKA_KEYS[java.translation] in ("*", java.scope), name


def test_known_java_translations() -> None:
    assert JAVA_ONLY_KEYS["fetch.max.wait.ms"].translation == "fetch.wait.max.ms"
    assert JAVA_ONLY_KEYS["receive.buffer.bytes"].translation == "socket.receive.buffer.bytes"
    assert JAVA_ONLY_KEYS["send.buffer.bytes"].translation == "socket.send.buffer.bytes"
    assert JAVA_ONLY_KEYS["max.request.size"].translation == "message.max.bytes"
    assert JAVA_ONLY_KEYS["buffer.memory"].translation is None
    assert "queue.buffering.max.kbytes" in JAVA_ONLY_KEYS["buffer.memory"].advice
    assert JAVA_ONLY_KEYS["ssl.truststore.location"].translation is None
    assert "ssl.ca.location" in JAVA_ONLY_KEYS["ssl.truststore.location"].advice
    assert JAVA_ONLY_KEYS["sasl.jaas.config"].translation is None
    for name in ("key.deserializer", "value.deserializer", "key.serializer", "value.serializer"):
        assert JAVA_ONLY_KEYS[name].translation is None
        assert "raw bytes" in JAVA_ONLY_KEYS[name].advice


def test_java_key_is_frozen() -> None:
    java = JAVA_ONLY_KEYS["fetch.max.wait.ms"]
    with pytest.raises(AttributeError):
        java.advice = "x"  # type: ignore[misc]
