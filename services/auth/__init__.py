"""The auth service: users, sessions and tokens, the audit log, join tokens and node certificates."""
