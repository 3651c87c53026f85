"""Test helpers shared by the integration and fault suites: independent Kafka I/O (confluent-kafka
directly, never kmirror's code), a kmirror process under test, a log dumper, a sample handler."""
