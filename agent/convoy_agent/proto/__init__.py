"""Messages and gRPC stubs generated from proto/ by tools/protogen.py; never edit them by hand."""
