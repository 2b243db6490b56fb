"""Shipped test scaffolding, named for what it is (like httpx's ``MockTransport``): real servers that tests,
benchmarks and the demo run on loopback instead of a remote service."""
