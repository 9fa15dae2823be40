"""Adapters: the database, Kafka, gRPC, Prometheus and files, at the edges."""
