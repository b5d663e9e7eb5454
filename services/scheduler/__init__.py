"""The scheduler: deployments and their rollout, and the edge the node agents talk to."""
