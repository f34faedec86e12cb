"""Prefect tasks: thin wrappers over the novaflow library (retries, limits, logging)."""
