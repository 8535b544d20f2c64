"""HTTP API, command line and local services of gridgov."""
