"""The transfer service: the content-addressed artifact store (validated uploads, resumable downloads)."""
