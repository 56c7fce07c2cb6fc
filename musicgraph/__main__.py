"""``python -m musicgraph`` runs the command line."""

from musicgraph.cli import main

main()
