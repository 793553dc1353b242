"""Benchmarks that ship with the command line (`maskgate bench ...`)."""
