"""Replication policies: what a source topic is called in the target, and where a copy came from.

Two policies, as MirrorMaker 2 has them:

- ``identity`` (the default, classic MirrorMaker): a topic keeps its name. A copy cannot be told
  from an original by its name, so loops in active-active setups are prevented by the opt-in
  provenance header instead (``kmirror.mirror.provenance``).
- ``prefix``: a remote topic is named ``{source_alias}{separator}{topic}`` (``us-east.orders``).
  The name says where a copy came from, so a topic that came from the target (``B.orders`` on A,
  mirrored A -> B) is never mirrored back: that is the cycle check.

A custom policy is any class with these three methods, named ``module:Class`` on the command
line (``--replication.policy mypolicies:ByTeam``); it is built with the separator as its only
argument.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from kmirror.errors import ConfigError

DEFAULT_SEPARATOR = "."
PROVENANCE_HEADER = "kmirror.provenance"  # value: the alias of the cluster a record was born in


def without_provenance(headers: Any) -> Any:
    """Headers without kmirror's provenance mark (--provenance.header adds it on the way):
    what a copy must equal its original in (``kmirror verify``, a takeover's check)."""
    if not headers or not any(name == PROVENANCE_HEADER for name, _ in headers):
        return headers
    return tuple((name, value) for name, value in headers if name != PROVENANCE_HEADER)
OFFSET_SYNCS_TOPIC = "kmirror.offset-syncs"  # kmirror's own, in the target: never mirrored
LINEAGE_TOPIC = "kmirror.source-topics"  # which source topic each target topic copies (lineage.py)
INTERNAL_TOPICS = frozenset({OFFSET_SYNCS_TOPIC, LINEAGE_TOPIC})


@runtime_checkable
class ReplicationPolicy(Protocol):
    """How remote topics are named (MirrorMaker 2's ReplicationPolicy, in three methods)."""

    def target_topic(self, source_alias: str, topic: str) -> str:
        """The target topic that mirrors ``topic`` of the cluster ``source_alias``."""
        ...

    def upstream_alias(self, topic: str) -> str | None:
        """The alias of the cluster a remote topic was copied from; None for a local topic."""
        ...

    def upstream_topic(self, topic: str) -> str | None:
        """The topic a remote topic was copied from; None for a local topic."""
        ...


class IdentityPolicy:
    """Names are kept: every topic looks local."""

    def __init__(self, separator: str = DEFAULT_SEPARATOR) -> None:
        self.separator = separator

    def target_topic(self, source_alias: str, topic: str) -> str:
        """The same name."""
        return topic

    def upstream_alias(self, topic: str) -> str | None:
        """Unknown from the name."""
        return None

    def upstream_topic(self, topic: str) -> str | None:
        """Unknown from the name."""
        return None


class PrefixPolicy:
    """``{source_alias}{separator}{topic}``, MirrorMaker 2's DefaultReplicationPolicy."""

    def __init__(self, separator: str = DEFAULT_SEPARATOR) -> None:
        self.separator = separator

    def target_topic(self, source_alias: str, topic: str) -> str:
        """The source alias, the separator, the topic."""
        return f"{source_alias}{self.separator}{topic}"

    def upstream_alias(self, topic: str) -> str | None:
        """What comes before the first separator, if there is one."""
        alias, found, rest = topic.partition(self.separator)
        return alias if found and alias and rest else None

    def upstream_topic(self, topic: str) -> str | None:
        """What comes after the first separator, if there is one."""
        alias, found, rest = topic.partition(self.separator)
        return rest if found and alias and rest else None


POLICIES: dict[str, type[IdentityPolicy] | type[PrefixPolicy]] = {
    "identity": IdentityPolicy, "prefix": PrefixPolicy,
}


def load_policy(name: str, separator: str = DEFAULT_SEPARATOR) -> ReplicationPolicy:
    """``identity``, ``prefix`` or ``module:Class``; ConfigError naming the flag otherwise."""
    if name in POLICIES:
        return POLICIES[name](separator)
    module_name, found, class_name = name.partition(":")
    if not found or not module_name or not class_name:
        raise ConfigError([
            f"--replication.policy {name}: write identity, prefix, or module:Class for a "
            "policy of your own"
        ])
    try:
        policy = getattr(importlib.import_module(module_name), class_name)(separator)
    except (ImportError, AttributeError, TypeError) as exc:
        raise ConfigError([f"--replication.policy {name}: cannot load it ({exc})"]) from None
    if not isinstance(policy, ReplicationPolicy):
        raise ConfigError([
            f"--replication.policy {name}: needs target_topic, upstream_alias and "
            "upstream_topic methods"
        ])
    return policy


def loops_back(policy: ReplicationPolicy, topic: str, target_alias: str) -> bool:
    """True when ``topic`` is (a copy of a copy of ...) a copy from ``target_alias``: mirroring
    it there would close a loop. Follows the chain of upstream aliases (``B.A.orders``)."""
    seen = 0
    while topic and seen < 32:
        alias = policy.upstream_alias(topic)
        if alias is None:
            return False
        if alias == target_alias:
            return True
        topic = policy.upstream_topic(topic) or ""
        seen += 1
    return False


class TopicSelection:
    """Which source topics a mirror copies, and under which target names.

    A topic is mirrored when the include/exclude filter selects it, it is not kmirror's own
    offset-sync topic, and it is not a copy that came from the target (the policy's cycle check).
    """

    def __init__(self, should_mirror: Callable[[str], bool], policy: ReplicationPolicy,
                 source_alias: str, target_alias: str) -> None:
        self._should_mirror = should_mirror
        self.policy, self.source_alias, self.target_alias = policy, source_alias, target_alias
        self._names: dict[str, str] = {}

    def loops_back(self, topic: str) -> bool:
        """True for a topic that is a copy of one of the target's own."""
        return loops_back(self.policy, topic, self.target_alias)

    def selects(self, topic: str) -> bool:
        """True for a topic to mirror."""
        return (topic not in INTERNAL_TOPICS and self._should_mirror(topic)
                and not self.loops_back(topic))

    def target_topic(self, topic: str) -> str:
        """The target name of source ``topic`` (remembered: called once per record)."""
        name = self._names.get(topic)
        if name is None:
            name = self._names[topic] = self.policy.target_topic(self.source_alias, topic)
        return name
