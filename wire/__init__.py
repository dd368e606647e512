"""The wire contract shared by the agent and the hub (see :mod:`wire.contract`)."""
