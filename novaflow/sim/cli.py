"""`novaflow sim ...`: run the simulated cloud."""

import typer

sim_app = typer.Typer(no_args_is_help=True, help="The simulated OpenStack cloud.")
