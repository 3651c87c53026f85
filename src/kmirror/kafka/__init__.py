"""The only package that imports Kafka client libraries.

confluent-kafka (librdkafka) serves the record path, the group membership, admin and commits;
kafka-python's protocol messages serve only ``raw_io`` (raw record batches for --shallow).
Everything above this package (mirror loop, topic planning, lag, verify, local clusters)
talks to Kafka through the small types and functions exported here, so its logic can be
tested with fakes.
"""
