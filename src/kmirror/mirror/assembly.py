"""Putting one stream together: its clients and the delivery path its settings ask for.

This is the only place that chooses a mode. The stream (mirror/stream.py) runs the same loop
whatever the path; the path is composed here:

| settings                   | writer                         | path                          |
|----------------------------|--------------------------------|-------------------------------|
| (default)                  | WriterPair: checkpoints + per  | MixedPath: RecordPath +       |
|                            | record (the batch path's)      | CheckpointAcks, and BatchPath |
| --no-shallow, or the record | TargetWriter, checkpoints     | RecordPath + CheckpointAcks   |
| path needed (below)        |                                |                               |
| --message.handler          | TargetWriter, per record       | RecordPath + RecordAcks       |
| --exactly-once             | TransactionalWriter            | RecordPath + TransactionalAcks|
| --shallow                  | TargetWriter, per record       | BatchPath (records fall back) |

The default chooses per partition (paths/mixed.py) unless the settings need every record
(``MirrorSettings.record_path_reason``: a handler, --exactly-once, --provenance.header, a
security mechanism the batch path does not speak), logged once. Checkpoint acknowledgements
(kmirror/kafka/writer.py) are used unless a handler may send a record elsewhere or several
times, or the writer only carries the batches the batch path cannot forward whole: then each
record's report is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial

from kmirror.config.settings import MirrorSettings, SourceCluster
from kmirror.kafka.admin import Admin
from kmirror.kafka.batches import Codec
from kmirror.kafka.reader import SourceReader
from kmirror.kafka.resume_io import TakeoverLogs
from kmirror.kafka.scan import locate_records
from kmirror.kafka.txn_writer import TransactionalWriter
from kmirror.kafka.writer import SyncWriter, TargetWriter
from kmirror.mirror.handler import MessageHandler, load_handler
from kmirror.mirror.jobs import Scheduler
from kmirror.mirror.partitions import Key
from kmirror.mirror.paths import Path
from kmirror.mirror.paths.acks import CheckpointAcks, RecordAcks
from kmirror.mirror.paths.record import RecordPath
from kmirror.mirror.paths.transactional import TransactionalAcks
from kmirror.mirror.paths.writer_pair import WriterPair
from kmirror.mirror.report import StreamReport
from kmirror.mirror.stream import MirrorStream, StreamClients, source_label, topic_selection
from kmirror.topics.lineage import LineageGuard
from kmirror.topics.lineage_store import TargetLineageStore
from kmirror.topics.naming import OFFSET_SYNCS_TOPIC
from kmirror.topics.plan import TopicSync

_log = logging.getLogger("kmirror.stream")


def open_stream(settings: MirrorSettings, source: SourceCluster, stream_index: int,
                report: Callable[[StreamReport], None],
                should_stop: Callable[[], bool]) -> MirrorStream:
    """Stream ``stream_index`` of ``source``, with its clients open."""
    label = source_label(source)
    rename = topic_selection(settings, source).target_topic
    target_admin = Admin(settings.target_admin_settings, "target")
    source_admin = Admin(source.admin_settings, label)
    lineage = LineageGuard(
        source_admin, target_admin,
        TargetLineageStore(settings.target_admin_settings, target_admin),
        source_cluster=source_admin.cluster_id, source_alias=source.alias, label=label,
        target_label=f"target cluster ({settings.target['bootstrap.servers']})",
        rename=rename, recreate_target=settings.recreate_target_topics,
    )
    handler = (load_handler(settings.message_handler, settings.message_handler_args)
               if settings.message_handler else None)
    if handler is not None and stream_index == 0:
        _log.info("%s: --message.handler may drop, multiply or redirect records, so commits do "
                  "not say where they land on the target and a partition taken over after a "
                  "crash sends again what the target holds past the last commit", label)
    why_records = settings.record_path_reason(source)
    if why_records and stream_index == 0:
        _log.info("%s: every partition goes record by record: %s", source_label(source),
                  why_records)
    writer: TargetWriter | TransactionalWriter | WriterPair = _writer(
        settings, source, per_record_acks=handler is not None or settings.shallow)
    if why_records is None and not settings.shallow:  # (the default: chosen per partition)
        assert isinstance(writer, TargetWriter)
        writer = WriterPair(writer, TargetWriter(settings.target, 1, "target"))
    sync_writer = None
    if settings.emit_offset_syncs:
        sync_writer = SyncWriter(
            {**settings.target, "client.id": f"kmirror-{source.alias}-{stream_index}"},
            OFFSET_SYNCS_TOPIC)
        per_record = writer.fallback if isinstance(writer, WriterPair) else writer
        if per_record.per_record_acks and handler is None:
            per_record.last_acked = {}  # (exact pairs from acknowledgements)
    clients = StreamClients(
        reader=SourceReader(_consumer_settings(source, stream_index), label),
        writer=writer,
        target_admin=target_admin,
        topics=TopicSync(source_admin, target_admin, settings.replication_factor,
                         rename=rename),
        lineage=lineage,
        sync_writer=sync_writer,
        jobs=Scheduler(lambda problem: _log.warning("%s: %s", label, problem)),
        answering=lambda keys, timeout_s: target_admin.end_offsets(keys, timeout_s,
                                                                   partial=True),
        takeover_logs=partial(TakeoverLogs, source.admin_settings, label,
                              settings.target_admin_settings, target_admin, source.alias,
                              source.client.get("isolation.level", "read_committed")),
    )
    return MirrorStream(settings, source, stream_index, report, should_stop, clients,
                        partial(_path, handler=handler, target_admin=target_admin))


def _consumer_settings(source: SourceCluster, stream_index: int) -> dict[str, str]:
    client = {**source.client, "auto.offset.reset": "error",
              "client.id": f"kmirror-{source.alias}-{stream_index}"}
    if "group.instance.id" in client:
        # Static membership: one id per stream (one id shared by several streams would
        # fence them against each other). After a kill -9 the broker refuses the id until
        # the old member's session expires (a fatal error, reported), so it does not
        # shorten restarts after crashes.
        client["group.instance.id"] = f"{client['group.instance.id']}-{stream_index}"
    return client


def _writer(settings: MirrorSettings, source: SourceCluster,
            per_record_acks: bool) -> TargetWriter | TransactionalWriter:
    if settings.exactly_once:
        alias, group = source.alias, source.group_id
        return TransactionalWriter(
            settings.target, settings.target_admin_settings, "target",
            transactional_prefix=f"kmirror.{alias}.{group}",
            positions_group=f"kmirror-positions.{alias}.{group}",
        )
    return TargetWriter(settings.target, settings.num_producers, "target",
                        per_record_acks=per_record_acks)


def _path(stream: MirrorStream, handler: MessageHandler | None,
          target_admin: Admin) -> Path:
    """The delivery path of ``stream`` (see the table in the module docstring)."""
    settings, source, writer = stream.settings, stream.source, stream.writer
    locate = partial(locate_records, source.admin_settings)
    if isinstance(writer, WriterPair):
        from kmirror.mirror.paths.batch import batch_path  # its protocol layer costs 0.3 s
        from kmirror.mirror.paths.mixed import MixedPath

        checkpoint = CheckpointAcks(stream, writer.main, locate)
        batch = batch_path(stream, settings, source, writer.fallback, target_admin)
        batch.wanted_codec = wanted_codec(settings.target)
        return MixedPath(stream, RecordPath(stream, checkpoint, None, source.alias,
                                            settings.target_alias), checkpoint, batch)
    if settings.shallow:
        from kmirror.mirror.paths.batch import batch_path

        assert isinstance(writer, TargetWriter)
        return batch_path(stream, settings, source, writer, target_admin)
    if isinstance(writer, TransactionalWriter):
        record: RecordPath | None = None

        def rewind(key: Key, offset: int) -> None:
            assert record is not None
            record.rewind(key, offset)

        acks = TransactionalAcks(stream, writer, stream.ensure_target_topics, rewind)
        record = RecordPath(stream, acks, handler, source.alias, settings.target_alias)
        record.forced_by = "--exactly-once"
        return record
    plain = (RecordAcks(stream, writer) if writer.per_record_acks
             else CheckpointAcks(stream, writer, locate))
    record = RecordPath(stream, plain, handler, source.alias, settings.target_alias)
    record.forced_by = _label(settings.record_path_reason(source))
    return record


def _label(reason: str | None) -> str:
    """The reason's first word (the flag or key), as the partitions gauge labels it."""
    return (reason or "records").split()[0].rstrip(":")


def wanted_codec(target: Mapping[str, str]) -> Codec | None:
    """The codec the producer config asks for with compression.type, or None when it asks
    for none in particular: a batch in another codec then goes record by record (compressed
    as asked; nothing is compressed twice)."""
    asked = target.get("compression.type", "").strip().lower()
    return _CODECS.get(asked)


_CODECS = {"none": Codec.NONE, "gzip": Codec.GZIP, "snappy": Codec.SNAPPY, "lz4": Codec.LZ4,
           "zstd": Codec.ZSTD}
