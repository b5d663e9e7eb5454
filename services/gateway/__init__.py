"""The HTTP gateway: the only HTTP surface; turns REST calls into gRPC calls."""
