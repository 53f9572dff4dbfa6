"""Services: the only writers of register data. Each is keyword-only, takes `actor`, `reason` and
`origin`, runs inside one recorded operation (`audit_context`: one transaction), and raises a
`registry.errors.DomainError` with a message a person can act on."""
