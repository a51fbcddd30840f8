"""The engine: the lifecycle machine, deciding commands, replaying histories, the CLI."""
