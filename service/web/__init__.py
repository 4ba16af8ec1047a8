"""What people see in a browser: the public status page (and its feeds) and the on-call board."""
