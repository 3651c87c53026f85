"""Offset syncs and consumer-group offset translation (failover onto the target)."""
