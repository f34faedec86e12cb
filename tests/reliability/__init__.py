"""The fault matrix: every flow under every fault, on the simulated cloud and a real Prefect."""
