"""The read API (`/api/v1/`) and the FHIR façade (`/fhir/`): anonymous, read-only, throttled.
Thin views over `registry.read`; README "Read API" lists every endpoint."""
