"""Processes: the CLI, the gRPC server and the Kafka worker."""
