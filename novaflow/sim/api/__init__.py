"""HTTP routers of the simulated cloud, one module per API area."""
