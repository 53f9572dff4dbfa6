"""Location number admin (to be built by the admin work)."""
