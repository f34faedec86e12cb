"""The `novaflow` command: simulated cloud, snapshots, what-if plans and flow runs."""

import typer

from novaflow.sim.cli import sim_app

app = typer.Typer(no_args_is_help=True, help="Move OpenStack instances off compute nodes safely.")
app.add_typer(sim_app, name="sim")


if __name__ == "__main__":
    app()
