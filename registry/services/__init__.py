"""Services: the only writers of register data. Each is keyword-only, takes `actor`, `reason` and
`origin`, runs in one transaction inside one audit context (one batch id), and raises a
`registry.errors.DomainError` with a message a person can act on."""
