"""The read side of the register for machines and the public: one place that says what a unit,
a location number, a code, a change-log event and a published file look like from outside.

The read API (`sor_api`), the FHIR façade and the public browser all build on these functions;
none of them writes. Views (`state.View`) say *which* register is read: now, valid on a date as
the register knows it now, as it was registered on a date, or as it stood at a change-log
position (what a published file was built from)."""
