"""What every capability's command line shares: rich tables, ``--json`` output, progress bars."""
