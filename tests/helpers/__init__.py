"""Test helpers: independent Kafka I/O (kafka_io: confluent-kafka directly, never kmirror's
code), a kmirror process under test (mirror_run), the target broker's stored batches
(dump_log), a sample message handler, in-memory clusters for unit tests (cluster_fakes), record
batches built byte by byte (batches), and the Kafka protocol's frames with a loopback peer that
speaks only the framing (wire)."""
