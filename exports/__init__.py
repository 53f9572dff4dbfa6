"""Building, checking and publishing the SOR files."""

# The version of the rules the files are built by. Raise it whenever a change to a format's
# builder (exports/xml, csv_format, complete) changes what a file says for the same register:
# each run records it, so "what did SOR publish on date X" (registry.read.published) can say
# whether today's builder would write that day's file as it was (ADR 0017).
BUILDER_VERSION = "2026.12.1"
