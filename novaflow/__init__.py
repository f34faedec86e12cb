"""novaflow: move OpenStack instances off compute nodes safely (library core, no Prefect)."""

__version__ = "0.1.0"
