"""The production set-up novaflow's production test lane runs: PostgreSQL, a Prefect server on
it, a process work pool, `prefect deploy --all` and process workers."""
