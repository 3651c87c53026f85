"""The only package that imports the Kafka client library (confluent-kafka / librdkafka).

Everything above it (mirror loop, topic planning, lag, verify, local clusters) talks to Kafka
through the small types and functions exported here, so its logic can be tested with fakes
and the client could be swapped for a raw-batch path.
"""
