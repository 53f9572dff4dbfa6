from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.utils.translation import gettext
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _


class SorAutocompleteView(AutocompleteJsonView):
    """The unit picker (e.g. on a location number) shows level and parent: an owner and its
    institution often share a name and were told apart only by SOR-ID."""

    def get_queryset(self):
        queryset = super().get_queryset()
        if queryset.model._meta.label == "registry.Unit":
            queryset = queryset.select_related("parent")
        return queryset

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        if obj._meta.label == "registry.Unit":
            text = f"{obj} · {obj.get_level_display()}"
            if obj.parent_id:
                text += " · " + _t("under %(parent)s") % {"parent": obj.parent}
            result["text"] = text
        return result


class SorAdminSite(admin.AdminSite):
    """The staff site of the register (Sundhedsdatastyrelsen's SOR administration).

    Nothing in the register is ever deleted (units and location numbers are closed, codes are
    retired), so the bulk delete action is switched off for every model on this site."""

    site_header = _("SOR-administration")
    site_title = _("SOR")
    index_title = _("Sundhedsvæsenets Organisationsregister")
    index_template = "admin/sor/index.html"
    # "SE SIDE" opens what the public sees: the public register browser.
    site_url = "/sor/"

    def __init__(self, name="admin"):
        super().__init__(name)
        self.disable_action("delete_selected")

    def index(self, request, extra_context=None):
        """The index also lists the change-sets waiting for this user's approval, the user's own
        sets waiting for a second person, the sets scheduled for a later date and the failed ones."""
        from django.utils import timezone

        from registry.changesets.engine import waiting_for
        from registry.models import ChangeSet

        extra = {"changesets_for_me": list(waiting_for(request.user)[:20]),
                 "changesets_mine_waiting": list(ChangeSet.objects.filter(author=request.user, status="submitted")[:20]),
                 "changesets_scheduled": list(ChangeSet.objects.filter(
                     status="approved", effective_date__gt=timezone.localdate()).order_by("effective_date")[:20]),
                 "changesets_failed": list(ChangeSet.objects.filter(status="failed").order_by("-created_at")[:20])}
        extra.update(self._case_queues(request))
        extra.update(self._quality(request))
        return super().index(request, extra_context={**extra, **(extra_context or {})})

    @staticmethod
    def _case_queues(request) -> dict:
        """The case queues (mine, unassigned, awaiting my approval, overdue) and counts per status,
        assignee and age of the open cases the user may see."""
        import datetime as dt

        from django.db.models import Count
        from django.utils import timezone

        from registry.cases.services import visible_cases
        from registry.changesets.engine import waiting_for
        from registry.models import CaseStatus

        user = request.user
        if not (user.has_perm("registry.view_case") or user.has_perm("registry.change_case")):
            return {}
        cases = visible_cases(user).exclude(status=CaseStatus.CLOSED)
        now = timezone.now()
        queues = [
            ("mine", gettext("Mine"), cases.filter(assignee=user).count()),
            ("unassigned", gettext("Ikke tildelt"), cases.filter(assignee__isnull=True).count()),
            ("approval", gettext("Afventer min godkendelse"),
             cases.filter(change_sets__in=waiting_for(user).values("pk")).distinct().count()),
            ("overdue", gettext("Over fristen"), cases.filter(due_at__lt=now).count()),
        ]
        labels = dict(CaseStatus.choices)
        by_status = [(labels[row["status"]], row["n"]) for row in cases.values("status").annotate(n=Count("pk"))
                     .order_by("status")]
        by_assignee = [(row["assignee__username"] or gettext("ikke tildelt"), row["n"]) for row in
                       cases.values("assignee__username").annotate(n=Count("pk")).order_by("-n")[:10]]
        ages = [(gettext("under 1 dag"), cases.filter(received_at__gte=now - dt.timedelta(days=1)).count()),
                (gettext("1–7 dage"), cases.filter(received_at__lt=now - dt.timedelta(days=1),
                                                   received_at__gte=now - dt.timedelta(days=7)).count()),
                (gettext("over 7 dage"), cases.filter(received_at__lt=now - dt.timedelta(days=7)).count())]
        out = {"case_queues": queues, "cases_by_status": by_status, "cases_by_assignee": by_assignee,
               "cases_by_age": ages}
        if user.has_perm("registry.view_sorresponsible"):
            from registry.models import SorResponsible
            from sor_admin.admin.selfservice import _due_sql, owners_without_responsible

            out["followup_overdue"] = SorResponsible.objects.annotate(due=_due_sql()).filter(
                due__lt=timezone.localdate()).exclude(owner__to_date__lt=timezone.localdate()).count()
            out["followup_without"] = owners_without_responsible().count()
        return out

    @staticmethod
    def _quality(request) -> dict:
        """Open duplicate groups and data-quality findings, for the index's "Datakvalitet" panel."""
        user = request.user
        if not user.has_perm("registry.view_duplicategroup") and not user.has_perm("registry.view_finding"):
            return {}
        from registry.models import DuplicateGroup, Finding

        return {"quality_panel": True,
                "quality_duplicates": DuplicateGroup.objects.filter(status="open").count(),
                "quality_findings": Finding.objects.filter(resolved_at__isnull=True).count(),
                "quality_errors": Finding.objects.filter(resolved_at__isnull=True, severity="error").count()}

    def autocomplete_view(self, request):
        return SorAutocompleteView.as_view(admin_site=self)(request)
