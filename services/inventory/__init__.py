"""The inventory service: servers and their facts, groups, installed software, and target resolution."""
