"""``python -m musicgraph.cli`` runs the command line."""

from musicgraph.cli import main

main()
