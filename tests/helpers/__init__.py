"""Test helpers: independent Kafka I/O (kafka_io: confluent-kafka directly, never kmirror's
code), a kmirror process under test (mirror_run), the target broker's stored batches
(dump_log), a sample message handler, and in-memory clusters for unit tests (cluster_fakes)."""
