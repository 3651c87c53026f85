"""The only package that imports Kafka client libraries: kmirror's bottom layer.

confluent-kafka (librdkafka) serves the record path, the group membership, admin and commits;
kafka-python's protocol messages serve only ``raw_io`` (raw record batches for --shallow).
Everything above this package (mirror loop, topic planning, offsets, lag, verify, local
clusters) talks to Kafka through the small types and functions exported here, so its logic can
be tested with fakes.

Nothing here imports the domain: this package imports only ``kmirror.errors`` and its own
modules. It hands up plain records and bytes (keys, values, offsets, timestamps;
``group_records`` for groups), never client objects; the codecs of kmirror's own topics live
with their domain (``kmirror.topics.lineage``, ``kmirror.offsets.syncs``), over
``compacted`` and ``scan.read_to_end`` here. Client errors are translated at this seam
(``client_errors``) into ``kmirror.errors``.
"""
