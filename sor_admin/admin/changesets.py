"""Change-sets in the staff admin: build a set (from the unit list, a unit's page or a changes
CSV), read it (changes in Danish, risk and who may approve, validation, the impact preview,
conflicts, timeline) and move it on with the buttons its status and the user's role allow.
Every button calls `registry.changesets.engine`, the same services as `manage.py sor_changeset`."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry.changesets import engine
from registry.changesets.types import RISK_POLICY, TYPES
from registry.errors import DomainError, ValidationFailed
from registry.models import ChangeSet, ChangeSetStatus, Risk, Unit
from registry.permissions import is_sor_admin

S = ChangeSetStatus
# The change types a selection of units can get from the unit list, and what their columns mean.
UNIT_KINDS = ["set", "rename", "retype", "move", "close", "reopen", "move_location_number", "message_types"]
PREVIEW_KEYS = {"location_number": _("lokationsnummer"), "location_number_source": _("lokationsnummer fra enhed"),
                "message_types": _("meddelelsestyper"),
                "postal": _("postadresse"), "visiting": _("besøgsadresse"), "activity": _("aktivitetsadresse"),
                "virtual": _("elektroniske adresser"), "owner": _("institutionsejer"),
                "institution": _("sundhedsinstitution"), "region": _("region"), "name": _("navn"),
                "entity_type": _("enhedstype"), "parent": _("overordnet"), "closed": _("lukket")}


# The timeline's events as staff read them (the code stays in the data and in --json).
EVENT_LABELS = {"created": _("oprettet"), "changes_added": _("ændringer tilføjet"), "submitted": _("indsendt"),
                "approved": _("godkendt"), "rejected": _("afvist"), "cancelled": _("annulleret"),
                "applied": _("gennemført"), "failed": _("fejlet"), "reverted": _("tilbageført"),
                "revert_conflicts": _("tilbageførsel med konflikter"), "revert_dropped": _("tilbageførsel opgivet"),
                "revert_applied": _("tilbageførsel gennemført")}


def _shown(value):
    """A preview value as staff read it: an address or the electronic addresses on one line,
    message types comma-separated, a yes/no for "closed"."""
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values() if v not in (None, "")) or None
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or None
    if isinstance(value, bool):
        return gettext("ja") if value else gettext("nej")
    return value


def _messages_of(error: DomainError) -> list[str]:
    if isinstance(error, engine.ChangeRowsInvalid):
        return [gettext("Række %(row)d: %(message)s") % e for e in error.errors]
    if isinstance(error, ValidationFailed):
        return [str(m) for msgs in {**error.errors, **error.warnings}.values() for m in msgs]
    return [str(error)]


class NewSetForm(forms.Form):
    name = forms.CharField(label=_("Navn"), max_length=200)
    reason = forms.CharField(label=_("Begrundelse"), widget=forms.Textarea(attrs={"rows": 3}))
    effective_date = forms.DateField(label=_("Gældende fra"), widget=AdminDateWidget, required=False,
                                     help_text=_("Tom: i dag. En senere dato gennemføres af den natlige kørsel den dag."))
    changes = forms.FileField(label=_("Ændringer som CSV"), required=False,
                              help_text=_("Semikolonsepareret UTF-8 med overskriften change;sor_id;target;field;value. "
                                          "Hele filen kontrolleres; intet gemmes, før den er fejlfri."))


class AddChangesForm(forms.Form):
    changeset = forms.ChoiceField(label=_("Ændringssæt"))
    name = forms.CharField(label=_("Navn på nyt sæt"), max_length=200, required=False)
    reason = forms.CharField(label=_("Begrundelse for nyt sæt"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    effective_date = forms.DateField(label=_("Nyt sæt gælder fra"), widget=AdminDateWidget, required=False)
    kind = forms.ChoiceField(label=_("Ændringstype"))
    field = forms.CharField(label=_("Felt (field)"), required=False,
                            help_text=_("set: feltets navn (fx phone); flyt lokationsnummer/meddelelsestyper: "
                                        "GLN, hvis enheden har flere"))
    target = forms.CharField(label=_("Mål (target)"), required=False,
                             help_text=_("flyt: SOR-ID på den nye overordnede; flyt lokationsnummer: modtagerens "
                                         "SOR-ID; meddelelsestyper: add, remove eller replace; luk: 'subtree'"))
    value = forms.CharField(label=_("Værdi (value)"), required=False,
                            help_text=_("set: den nye værdi; omdøb: det nye navn; ny enhedstype: koden; "
                                        "flyt lokationsnummer: none eller inherited; luk: lukkedato ÅÅÅÅ-MM-DD"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        drafts = ChangeSet.objects.filter(status=S.DRAFT, author=user).order_by("-created_at")[:50]
        self.fields["changeset"].choices = [("new", gettext("Nyt ændringssæt"))] + [
            (str(cs.pk), f"{cs.name} (nr. {cs.pk}, {cs.effective_date:%d-%m-%Y})") for cs in drafts]
        self.fields["kind"].choices = [(kind, f"{TYPES[kind].label} ({kind})") for kind in UNIT_KINDS]

    def clean(self):
        data = super().clean()
        if data.get("changeset") == "new" and not (data.get("name") or "").strip():
            self.add_error("name", gettext("Et nyt sæt skal have et navn."))
        if data.get("changeset") == "new" and not (data.get("reason") or "").strip():
            self.add_error("reason", gettext("Et nyt sæt skal have en begrundelse."))
        return data


@admin.register(ChangeSet)
class ChangeSetAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "status", "risk", "effective_date", "author", "approved_by", "created_at")
    list_display_links = ("id", "name")
    list_filter = ("status", "risk")
    search_fields = ("name", "reason")
    list_select_related = ("author", "approved_by")

    def has_add_permission(self, request):
        return request.user.has_perm("registry.add_changeset") or request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return False  # sets change through their buttons, never a model form

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("add-changes/", view(self.add_changes_view), name="registry_changeset_add_changes"),
            path("<int:object_id>/do/<str:verb>/", view(self.verb_view), name="registry_changeset_verb"),
            path("<int:object_id>/upload/", view(self.upload_view), name="registry_changeset_upload"),
        ] + super().get_urls()

    def _context(self, request, **extra):
        return {**self.admin_site.each_context(request), "opts": self.opts, "app_label": self.opts.app_label,
                "has_view_permission": True, **extra}

    # -- a new set ----------------------------------------------------------------------------------
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = NewSetForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            try:
                rows = engine.parse_changes_csv(form.cleaned_data["changes"].read()) if form.cleaned_data["changes"] else []
                cs = engine.changeset_create(actor=request.user, name=form.cleaned_data["name"],
                                             reason=form.cleaned_data["reason"],
                                             effective_date=form.cleaned_data["effective_date"], rows=rows)
            except DomainError as error:
                errors = _messages_of(error)
            else:
                messages.success(request, gettext("Ændringssæt %(id)s er oprettet som kladde med %(n)d ændringer.")
                                 % {"id": cs.pk, "n": cs.changes.count()})
                return HttpResponseRedirect(reverse("admin:registry_changeset_change", args=[cs.pk]))
        return TemplateResponse(request, "admin/sor/changeset_form.html", self._context(
            request, title=gettext("Nyt ændringssæt"), form=form, row_errors=errors, media=self.media + form.media,
            multipart=True, submit_label=gettext("Opret kladde")))

    def upload_view(self, request, object_id):
        cs = ChangeSet.objects.filter(pk=object_id).first()
        if cs is None:
            return HttpResponseRedirect(reverse("admin:registry_changeset_changelist"))
        if request.method != "POST" or "changes" not in request.FILES:
            messages.error(request, gettext("Vælg en CSV-fil med ændringer."))
            return HttpResponseRedirect(reverse("admin:registry_changeset_change", args=[cs.pk]))
        try:
            engine.changeset_add(actor=request.user, changeset=cs,
                                 rows=engine.parse_changes_csv(request.FILES["changes"].read()))
        except DomainError as error:
            for text in _messages_of(error):
                messages.error(request, text)
            messages.error(request, gettext("Intet blev tilføjet: ret filen og indlæs den igen."))
        else:
            messages.success(request, gettext("Ændringerne er tilføjet."))
        return HttpResponseRedirect(reverse("admin:registry_changeset_change", args=[cs.pk]))

    # -- changes for chosen units -----------------------------------------------------------------
    def add_changes_view(self, request):
        """The form behind "Tilføj til ændringssæt" (unit list action and unit page): one change
        of the chosen type per chosen unit, into a draft of the user's or a new set."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        ids = [i for i in (request.POST.get("ids") or request.GET.get("ids") or "").split(",") if i.isdigit()]
        units = list(Unit.objects.filter(pk__in=ids).order_by("sor_id"))
        if not units:
            messages.error(request, gettext("Vælg først en eller flere enheder."))
            return HttpResponseRedirect(reverse("admin:registry_unit_changelist"))
        form = AddChangesForm(request.POST if "kind" in request.POST else None, user=request.user,
                              initial={"kind": request.GET.get("kind", "set")})
        errors = []
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            rows = [{"row": n, "change": data["kind"], "sor_id": str(unit.pk), "target": data["target"].strip(),
                     "field": data["field"].strip(), "value": data["value"]} for n, unit in enumerate(units, start=2)]
            try:
                if data["changeset"] == "new":
                    cs = engine.changeset_create(actor=request.user, name=data["name"], reason=data["reason"],
                                                 effective_date=data["effective_date"], rows=rows)
                else:
                    cs = engine.changeset_add(actor=request.user, changeset=int(data["changeset"]), rows=rows)
            except DomainError as error:
                errors = _messages_of(error)
            else:
                messages.success(request, gettext("%(n)d ændringer er lagt i ændringssæt %(id)s.")
                                 % {"n": len(rows), "id": cs.pk})
                return HttpResponseRedirect(reverse("admin:registry_changeset_change", args=[cs.pk]))
        return TemplateResponse(request, "admin/sor/changeset_form.html", self._context(
            request, title=gettext("Tilføj til ændringssæt"), form=form, row_errors=errors, units=units,
            ids=",".join(str(u.pk) for u in units), media=self.media + form.media,
            submit_label=gettext("Læg ændringerne i sættet"),
            row_note=gettext("Rækkenumrene tæller enhederne i rækkefølge fra 2 (som i en CSV-fil med overskrift).")))

    # -- a set's page -----------------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        cs = ChangeSet.objects.select_related("author", "approved_by", "reverts").filter(pk=object_id).first()
        if cs is None:
            messages.warning(request, gettext("Ændringssæt %(id)s findes ikke.") % {"id": object_id})
            return HttpResponseRedirect(reverse("admin:registry_changeset_changelist"))
        user = request.user
        pending = cs.status in (S.DRAFT, S.SUBMITTED, S.APPROVED)
        result = engine.preview(cs) if pending else None
        if result is not None:
            for unit in result["units"]:
                unit["rows"] = [(PREVIEW_KEYS.get(k, k), _shown(v["before"]), _shown(v["after"]),
                                 k in engine.ROUTING_KEYS or k == "location_number_source")
                                for k, v in unit["changes"].items()]
                unit["routing"] = unit["sor_id"] in result["routing_changed"]
        admin_user = is_sor_admin(user)
        mine = cs.author_id == user.pk
        # A draft nobody authored (a clinic's proposal from self-service): whoever may propose
        # submits or cancels it; its submitter then counts as its author for the four eyes.
        ownerless = cs.author_id is None and user.has_perm("registry.add_changeset")
        submitted_by_me = cs.events.filter(code=engine.EVENT + "submitted", actor=user).exists()
        buttons = []
        if cs.status == S.DRAFT and (mine or ownerless):
            buttons.append(("submit", gettext("Indsend")))
        if cs.status == S.SUBMITTED and admin_user and not mine and not submitted_by_me:
            buttons += [("approve", gettext("Godkend")), ("reject", gettext("Afvis"))]
        if cs.status == S.APPROVED and cs.effective_date <= timezone.localdate() and (admin_user or mine):
            buttons.append(("apply", gettext("Gennemfør nu")))
        if cs.status == S.APPROVED and admin_user and not mine:
            buttons.append(("reject", gettext("Afvis")))
        if pending and (mine or admin_user or (ownerless and cs.status == S.DRAFT)):
            buttons.append(("cancel", gettext("Annullér sættet")))
        if cs.status == S.APPLIED and self.has_add_permission(request):
            buttons.append(("revert", gettext("Tilbagefør (lav det modsatte sæt)")))
        approver = (gettext("en anden SOR-administrator end forfatteren (fire øjne)") if cs.risk == Risk.HIGH
                    else gettext("politikken: forfatteren, hvis forfatteren selv må lave ændringerne; ellers en "
                                 "SOR-administrator"))
        context = self._context(
            request, title=str(cs), cs=cs, preview=result,
            changes=[(c, TYPES[c.kind].label if c.kind in TYPES else c.kind) for c in cs.changes.all()],
            events=[(e, EVENT_LABELS.get(e.code.removeprefix(engine.EVENT), e.code))
                    for e in cs.events.select_related("actor")], buttons=buttons, approver=approver,
            risk_policy=[(label, risk.label) for label, risk in RISK_POLICY],
            conflicts=engine.conflicts(cs) if pending else [], revert_conflicts=engine.revert_conflicts(cs),
            inverses=list(cs.inverses.all()), may_upload=cs.status == S.DRAFT and (mine or admin_user),
            original=cs)
        return TemplateResponse(request, "admin/sor/changeset.html", context)

    def verb_view(self, request, object_id, verb):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        page = reverse("admin:registry_changeset_change", args=[object_id])
        services = {"submit": engine.changeset_submit, "approve": engine.changeset_approve,
                    "reject": engine.changeset_reject, "cancel": engine.changeset_cancel,
                    "apply": engine.changeset_apply, "revert": engine.changeset_revert}
        if verb not in services:
            return HttpResponseRedirect(page)
        kwargs = {"note": request.POST.get("note", "")} if verb in ("approve", "reject", "cancel") else {}
        try:
            cs = services[verb](actor=request.user, changeset=int(object_id), **kwargs)
        except DomainError as error:
            for text in _messages_of(error):
                messages.error(request, text)
            return HttpResponseRedirect(page)
        if verb == "revert":
            messages.success(request, gettext("Det modsatte sæt %(id)s er oprettet som kladde; det skal indsendes og "
                                              "godkendes som ethvert sæt.") % {"id": cs.pk})
            return HttpResponseRedirect(reverse("admin:registry_changeset_change", args=[cs.pk]))
        if cs.status == S.FAILED:
            messages.error(request, gettext("Sættet fejlede: %(reason)s") % {"reason": cs.status_reason})
        else:
            messages.success(request, gettext("Ændringssæt %(id)s: %(status)s.") % {"id": cs.pk,
                                                                                   "status": cs.get_status_display()})
        return HttpResponseRedirect(page)
