"""Who may change what. Enforced in services (and mirrored in admin querysets), never only in the UI.

Field groups: contact data (phone, e-mail, web, fax, addresses) may be changed by the support
desk; everything else is register data. A user without the `all_regions` permission (a regional
administrator) may change only units whose administrative region is their profile's region.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from .errors import NotAllowed
from .models import ADDRESS_FIELDS, ADDRESS_KINDS

CONTACT_FIELDS = frozenset(
    ["virtual_present", "email", "website", "phone", "fax"]
    + [f"{kind}_present" for kind in ADDRESS_KINDS]
    + [f"{kind}_{suffix}" for kind in ADDRESS_KINDS for suffix, _label, _f in ADDRESS_FIELDS]
)


def is_system(actor) -> bool:
    """Importers, tasks and commands act without a logged-in user."""
    return actor is None or getattr(actor, "pk", None) is None


def is_sor_admin(actor) -> bool:
    """An SOR-administrator (SDS's own staff: may approve others' sets and edit in a freeze);
    the system (importers, tasks, commands without --user) counts as one."""
    return is_system(actor) or actor.is_superuser or actor.has_perm("registry.approve_changeset")


def region_scope(actor):
    """The region a user is limited to, or None for no limit."""
    if is_system(actor) or actor.is_superuser or actor.has_perm("registry.all_regions"):
        return None
    profile = getattr(actor, "sor_profile", None)
    return getattr(profile, "region", None) or False  # False: limited to nothing


def check_region(actor, unit_region_id) -> None:
    scope = region_scope(actor)
    if scope is None:
        return
    if scope is False:
        raise NotAllowed(_("Din bruger er ikke knyttet til en region og kan ikke ændre enheder."))
    if unit_region_id != scope.pk:
        raise NotAllowed(_("Enheden hører ikke til din region (%(region)s); du kan kun ændre enheder i din egen region.")
                         % {"region": scope.name_da})


def _label(name: str) -> str:
    """A field as staff read it ("navn", not "name")."""
    from .models import Unit

    try:
        return str(Unit._meta.get_field(name[:-3] if name.endswith("_id") else name).verbose_name)
    except Exception:
        return name


def check_unit_change(actor, unit, fields) -> None:
    if is_system(actor) or actor.is_superuser:
        return
    fields = set(fields)
    if fields - CONTACT_FIELDS:
        if not actor.has_perm("registry.edit_register_data"):
            names = ", ".join(sorted(_label(name) for name in fields - CONTACT_FIELDS))
            raise NotAllowed(_("Du må kun rette kontaktdata; disse felter kræver en SOR-administrator: %(fields)s")
                             % {"fields": names})
    elif not (actor.has_perm("registry.edit_contact_data") or actor.has_perm("registry.edit_register_data")):
        raise NotAllowed(_("Du har kun læseadgang til registeret."))
    check_region(actor, unit.region_id)


def check_perm(actor, perm: str, message: str, *, region_id=None, check_scope: bool = False) -> None:
    if is_system(actor) or actor.is_superuser:
        return
    if not actor.has_perm(perm):
        raise NotAllowed(message)
    if check_scope:
        check_region(actor, region_id)
