"""The service's routes, one module per area (each defines ``router``)."""
