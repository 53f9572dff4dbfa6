"""Code list admins (to be built by the admin work)."""
