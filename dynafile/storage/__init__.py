"""Storage engine: log, partitions, locks, files."""
