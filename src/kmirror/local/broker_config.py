"""The text of a local broker's ``server.properties`` and ``log4j2.properties``.

Pure functions of the ports and folders chosen by kmirror.local.cluster, so what a local
cluster runs with reads in one place; a secured cluster swaps in the listener lines of
kmirror.local.security.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def plaintext_listeners(port: int, controller_port: int) -> list[str]:
    """server.properties listener lines of an unsecured cluster: clients and controller, plain."""
    return [
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    ]


def server_properties(listeners: Sequence[str], controller_port: int, data_dir: Path) -> str:
    """One node as broker and controller (KRaft), sized for a laptop, with the given listeners."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            *listeners,
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=4",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # A mirror must create its target topics itself: never by accident.
            "auto.create.topics.enable=false",
            "log.segment.bytes=67108864",
            "num.network.threads=2",
            "num.io.threads=4",
            # A long-poll fetch waiting for records watches every partition it names, and the
            # broker drops finished watches only every this many fetches (default 1,000): a
            # mirror idle on 10,000 partitions of one broker held ~10 million of them and ran
            # a 2 GB heap out of memory in minutes. Production brokers carry the same risk
            # (docs/tuning.md, "Many topics and partitions").
            "fetch.purgatory.purge.interval.requests=100",
            "",
        ]
    )


# Everything to the console, which the broker's launcher sends to broker.log.
LOG4J_PROPERTIES = "\n".join(
    [
        "status = warn",
        "appender.out.type = Console",
        "appender.out.name = OUT",
        "appender.out.layout.type = PatternLayout",
        "appender.out.layout.pattern = [%d] %p %m (%c)%n",
        "rootLogger.level = INFO",
        "rootLogger.appenderRef.out.ref = OUT",
        "logger.kafka.name = kafka",
        "logger.kafka.level = INFO",
        "logger.state.name = state.change.logger",
        "logger.state.level = WARN",
        "",
    ]
)
