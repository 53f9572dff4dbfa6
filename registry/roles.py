"""Staff roles as Django groups, kept in step by `post_migrate` and `manage.py sor_roles`.

Nobody gets a delete permission: units are closed, never deleted."""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q
from django.utils.translation import gettext_lazy

SOR_ADMIN = "SOR-administrator"
SUPPORT = "Supportmedarbejder"
REGIONAL = "Regional administrator"
GUEST = "Gæst"

_CODE_LIST_MODELS = [
    "ownertype", "entitytype", "clinicalspeciality", "specialitytype", "region", "municipality",
    "postaldistrict", "networkoperator", "systemsupplier", "systemtype", "ediadministrator", "edimessagetype",
]


# What each role may do, in the words the refusal page uses.
ROLE_DESCRIPTIONS = {
    SOR_ADMIN: gettext_lazy("retter alle registerdata og kontaktdata i hele landet, opretter, flytter og lukker "
                            "enheder, retter kodelister, importerer SOR-filer, godkender andres ændringssæt og "
                            "styrer publiceringen"),
    SUPPORT: gettext_lazy("retter kontaktdata (telefon, e-mail, web, adresser) på alle enheder, også med regneark; "
                          "behandler henvendelser (sager) fra SORpost; foreslår ændringssæt, som en SOR-administrator godkender, "
                          "når de rører andet; læser alt andet"),
    REGIONAL: gettext_lazy("retter, opretter og lukker enheder og lokationsnumre i sin egen region, behandler "
                           "sager om regionens enheder og foreslår ændringssæt; læser resten"),
    GUEST: gettext_lazy("læser registeret og filerne; ændrer intet"),
}

# Correction requests: who works cases (a regional administrator only their region's: services).
CASE_VIEWS = ["view_case", "view_caseevent", "view_casemessage", "view_caseattachment", "view_mailintake",
              # Personal data of clinics' staff and the mails sent to them.
              "view_sorresponsible", "view_historicalsorresponsible", "view_selfservicelink", "view_outgoingmail",
              "view_followupreminder"]
CASE_WORK = ["add_case", "change_case", "change_mailintake", "add_sorresponsible", "change_sorresponsible"]


def role_descriptions(user) -> list[tuple[str, str]]:
    """(role, what it may do) for each role the user has (superusers: everything)."""
    from django.utils.translation import gettext as _

    if user.is_superuser:
        return [(_("Superbruger"), _("må alt"))]
    return [(name, str(ROLE_DESCRIPTIONS[name])) for name in user.groups.values_list("name", flat=True)
            if name in ROLE_DESCRIPTIONS]


def _perms(*q_objects):
    query = Q()
    for q in q_objects:
        query |= q
    return Permission.objects.filter(query).exclude(codename__startswith="delete_")


def _view(app_label):
    return Q(content_type__app_label=app_label, codename__startswith="view_")


def sync_roles() -> dict[str, int]:
    registry_all = Q(content_type__app_label="registry")
    roles = {
        SOR_ADMIN: _perms(
            registry_all, Q(content_type__app_label="exports"), Q(content_type__app_label="django_celery_beat"),
            Q(content_type__app_label="auth", codename__startswith="view_"),
        ),
        SUPPORT: _perms(
            _view("registry"), _view("exports"),
            Q(content_type__app_label="registry", codename__in=["change_unit", "edit_contact_data", "all_regions",
                                                                      "add_changeset", "change_changeset",
                                                                      *CASE_WORK]),
        ),
        REGIONAL: _perms(
            _view("registry"), _view("exports"),
            Q(content_type__app_label="registry", codename__in=[
                "add_unit", "change_unit", "edit_contact_data", "edit_register_data", "close_unit",
                "add_locationnumber", "change_locationnumber", "add_changeset", "change_changeset", *CASE_WORK,
            ]),
        ),
        # Cases hold senders' mail: not for guests.
        GUEST: _perms(_view("registry"), _view("exports")).exclude(codename__in=CASE_VIEWS),
    }
    counts = {}
    for name, perms in roles.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set(perms)
        counts[name] = perms.count()
    return counts


def on_post_migrate(sender, **kwargs):
    # Runs after each app's migrate signal so permissions of apps after `registry` are included.
    sync_roles()
