"""The public side: pages anyone may open without a staff login (self-service now; the register
browser later). Public pages show nothing beyond what SOR publishes."""
