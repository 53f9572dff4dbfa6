"""The shapes of the API's answers, for the OpenAPI description (the views build plain dicts
with `registry.read`; tests check every documented endpoint answers in these shapes)."""

from rest_framework import serializers as s

from registry.read.feed import KIND_DESCRIPTIONS, KINDS


class CodeRef(s.Serializer):
    code = s.CharField()
    name = s.CharField(allow_null=True)


class Address(s.Serializer):
    mail_sublocation = s.CharField(allow_null=True)
    street_name = s.CharField(allow_null=True)
    street_name_for_addressing = s.CharField(allow_null=True)
    building = s.CharField(allow_null=True)
    floor = s.CharField(allow_null=True)
    suite = s.CharField(allow_null=True)
    district_subdivision = s.CharField(allow_null=True)
    po_box = s.CharField(allow_null=True)
    post_code = s.CharField(allow_null=True)
    district_name = s.CharField(allow_null=True)
    country_code = s.CharField(allow_null=True)
    country_scheme = s.CharField(allow_null=True)
    stairway = s.CharField(allow_null=True)
    municipality_code = s.CharField(allow_null=True)
    street_code = s.CharField(allow_null=True)
    region_code = s.CharField(allow_null=True)
    coord_n = s.CharField(allow_null=True)
    coord_e = s.CharField(allow_null=True)


class Virtual(s.Serializer):
    email = s.CharField(allow_null=True)
    website = s.CharField(allow_null=True)
    phone = s.CharField(allow_null=True)
    fax = s.CharField(allow_null=True)


class LocationNumber(s.Serializer):
    gln = s.CharField(help_text="13 digits")
    unit = s.CharField(help_text="SOR-ID of the unit holding the number")
    valid_from = s.DateField(allow_null=True)
    valid_to = s.DateField(allow_null=True)
    first_valid_from = s.DateField(allow_null=True)
    updated_at = s.DateField(allow_null=True)
    only_internal = s.BooleanField()
    non_active = s.BooleanField()
    note = s.CharField(allow_null=True)
    system_supplier = CodeRef(allow_null=True)
    system_type = CodeRef(allow_null=True)
    network_operator = CodeRef(allow_null=True)
    region = CodeRef(allow_null=True)
    edi_administrator = CodeRef(allow_null=True)
    message_types = CodeRef(many=True)


def _effective(name, value_serializer):
    return type(name, (s.Serializer,), {
        "source": s.CharField(help_text="SOR-ID of the unit the value comes from"),
        "how": s.ChoiceField(["own", "inherited", "postal", "visiting"],
                             help_text="own; inherited from above; or the unit's own postal/visiting address"),
        "value": value_serializer,
    })


EffectiveAddress = _effective("EffectiveAddress", Address())
EffectiveVirtual = _effective("EffectiveVirtual", Virtual())
EffectiveLocationNumber = _effective("EffectiveLocationNumber", LocationNumber())


class Own(s.Serializer):
    postal_address = Address(allow_null=True)
    visiting_address = Address(allow_null=True)
    activity_address = Address(allow_null=True)
    virtual_addresses = Virtual(allow_null=True)
    location_mode = s.ChoiceField(["own", "inherited", "none", "unspecified"])
    location_number = LocationNumber(allow_null=True)


class Effective(s.Serializer):
    postal_address = EffectiveAddress(allow_null=True)
    visiting_address = EffectiveAddress(allow_null=True)
    activity_address = EffectiveAddress(allow_null=True)
    virtual_addresses = EffectiveVirtual(allow_null=True)
    location_number = EffectiveLocationNumber(allow_null=True)


class Speciality(s.Serializer):
    code = s.CharField()
    type = s.CharField()


class GeoParent(s.Serializer):
    relation = s.IntegerField(allow_null=True)
    sor_id = s.CharField(allow_null=True)


class Unit(s.Serializer):
    sor_id = s.CharField()
    level = s.ChoiceField(["IE", "SI", "OE"])
    name = s.CharField()
    status = s.ChoiceField(["planned", "active", "closing", "closed"])
    parent = s.CharField(allow_null=True)
    owner = s.CharField()
    institution = s.CharField(allow_null=True, help_text="the sundhedsinstitution above an OE")
    ancestors = s.ListField(child=s.CharField(), help_text="owner first, parent last")
    valid_from = s.DateField()
    valid_to = s.DateField(allow_null=True)
    first_valid_from = s.DateField()
    updated_at = s.DateField(allow_null=True)
    entity_type = CodeRef(allow_null=True)
    owner_type = CodeRef(allow_null=True)
    region = CodeRef(allow_null=True)
    shak = s.CharField(allow_null=True)
    provider_number = s.CharField(allow_null=True, help_text="ydernummer")
    pharmacy_number = s.CharField(allow_null=True)
    cvr = s.CharField(allow_null=True)
    p_number = s.CharField(allow_null=True)
    local_code = s.CharField(allow_null=True)
    local_attributes = s.ListField(child=s.CharField(allow_null=True))
    specialities = Speciality(many=True, allow_null=True)
    ambulant_activity = s.BooleanField(allow_null=True)
    patients_admitted = s.BooleanField(allow_null=True)
    reporting_level = s.BooleanField(allow_null=True)
    geographical_parent = GeoParent(allow_null=True)
    replaces = s.ListField(child=s.CharField(), allow_null=True)
    replaced_by = s.ListField(child=s.CharField(), allow_null=True)
    own = Own()
    effective = Effective()


class ViewInfo(s.Serializer):
    mode = s.ChoiceField(["now", "valid_on", "as_registered", "published"])
    date = s.DateField()


class UnitDetail(Unit):
    view = ViewInfo()


class UnitPage(s.Serializer):
    results = Unit(many=True)
    next = s.URLField(allow_null=True)
    view = ViewInfo()


class Change(s.Serializer):
    old = s.JSONField(allow_null=True)
    new = s.JSONField(allow_null=True)


class FeedEvent(s.Serializer):
    sequence = s.IntegerField()
    kind = s.ChoiceField(KINDS, help_text="; ".join(f"{k}: {v}" for k, v in KIND_DESCRIPTIONS.items()))
    sor_id = s.CharField(required=False, allow_null=True, help_text="unit, location-number and message-type events")
    code_list = s.CharField(required=False, help_text="code events")
    code = s.CharField(required=False, help_text="code events")
    location_number = s.CharField(required=False, help_text="location-number and message-type events: the GLN")
    fields = s.DictField(child=Change())
    operation_id = s.UUIDField()
    committed_at = s.DateTimeField()
    successor = s.CharField(required=False, allow_null=True, help_text="closures and merges")


class FeedPage(s.Serializer):
    results = FeedEvent(many=True)
    next = s.URLField(allow_null=True)
    last_sequence = s.IntegerField(help_text="the highest sequence number in this page, or `after` if empty")


class Code(s.Serializer):
    code = s.CharField()
    name = s.CharField(allow_null=True)
    name_en = s.CharField(allow_null=True)
    retired = s.BooleanField()
    valid_from = s.DateField(allow_null=True)
    valid_to = s.DateField(allow_null=True)
    successor = s.CharField(allow_null=True)


class CodeList(s.Serializer):
    list = s.CharField()
    results = Code(many=True)


class ShakUnit(s.Serializer):
    sor_id = s.CharField()
    name = s.CharField()
    level = s.CharField()
    shak = s.CharField()
    entity_type = CodeRef(allow_null=True)
    valid_from = s.DateField()
    valid_to = s.DateField(allow_null=True)
    parent = s.CharField(allow_null=True)
    owner = s.CharField()


class ShakUnits(s.Serializer):
    shak = s.CharField()
    date = s.DateField()
    results = ShakUnit(many=True)


class UnitShak(s.Serializer):
    sor_id = s.CharField()
    date = s.DateField()
    shak = s.CharField(allow_null=True, help_text="the unit's own code (SHAK is not inherited)")


class PublishedFile(s.Serializer):
    sha256 = s.CharField()
    size = s.IntegerField()


class Publication(s.Serializer):
    date = s.DateField()
    run = s.IntegerField()
    published_at = s.DateTimeField()
    changelog_position = s.IntegerField(help_text="start a change-feed consumer here: after=<this>")
    builder_version = s.CharField(allow_null=True)
    current_builder_version = s.CharField()
    files = s.DictField(child=PublishedFile())
    files_kept = s.BooleanField()


class Publications(s.Serializer):
    results = Publication(many=True)


class PublishedUnit(s.Serializer):
    unit = Unit()
    publication = Publication()


class Error(s.Serializer):
    error = s.CharField()
