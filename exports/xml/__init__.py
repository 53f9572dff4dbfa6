"""SOR XML v1.0.0 / v2.0.0: streaming writer and builder (export) and streaming reader (import).

See docs/sor-xml-format-choices.md for every choice not evidenced by an SDS file."""
