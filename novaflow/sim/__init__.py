"""The simulated cloud: Keystone v3 and Nova v2.1 over HTTP, with state machines and faults."""
