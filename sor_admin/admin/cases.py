"""Cases (correction requests) and received mail in the staff admin. Every button calls one
service of `registry.cases`; the pages only read. Mail HTML is shown sanitised inside a sandboxed
iframe (no script runs, no remote image loads); attachments are downloaded, never shown inline."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry.cases import services
from registry.cases.intake.ingest import ingest, retry
from registry.cases.intake.parse import sanitise
from registry.cases.replies import TEMPLATES, case_reply, render
from registry.changesets import engine
from registry.changesets.types import _SETTABLE as SETTABLE
from registry.errors import DomainError
from registry.models import Case, CaseAttachment, CaseStatus, ChangeSetStatus, IntakeStatus, MailIntake
from registry.permissions import region_scope

from .changesets import PREVIEW_KEYS, _messages_of, _shown


class QueueFilter(admin.SimpleListFilter):
    title = _("kø")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("mine", _("mine")), ("unassigned", _("ikke tildelt")),
                ("approval", _("afventer min godkendelse")), ("overdue", _("over fristen")),
                ("open", _("åbne"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "mine":
            return queryset.filter(assignee=request.user).exclude(status=CaseStatus.CLOSED)
        if value == "unassigned":
            return queryset.filter(assignee__isnull=True).exclude(status=CaseStatus.CLOSED)
        if value == "approval":
            waiting = engine.waiting_for(request.user).values_list("pk", flat=True)
            return queryset.filter(change_sets__in=waiting).distinct()
        if value == "overdue":
            return queryset.filter(due_at__lt=timezone.now()).exclude(status=CaseStatus.CLOSED)
        if value == "open":
            return queryset.exclude(status=CaseStatus.CLOSED)
        return queryset


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("reference", "subject_and_identity", "status", "assignee", "region", "received_at", "due")
    list_display_links = ("reference", "subject_and_identity")
    list_filter = (QueueFilter, "status", "source", "identity", "region")
    search_fields = ("reference", "subject", "sender_email", "sender_name")
    list_select_related = ("assignee", "region")
    list_per_page = 100
    show_full_result_count = False

    @admin.display(description=_("emne"), ordering="subject")
    def subject_and_identity(self, obj):
        """The subject; a self-service request whose requester is not identified says so."""
        if obj.identity == "unconfirmed":
            return format_html('{} <strong class="sor-identity-unconfirmed">({})</strong>', obj.subject,
                               obj.get_identity_display())
        return obj.subject

    @admin.display(description=_("frist"), ordering="due_at")
    def due(self, obj):
        text = timezone.localtime(obj.due_at).strftime("%d-%m-%Y")
        return f"{text} ({gettext('over fristen')})" if obj.due_at < timezone.now() and obj.status != "closed" else text

    def get_queryset(self, request):
        return services.visible_cases(request.user)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("registry.view_case") or request.user.has_perm("registry.change_case")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False  # cases come from mail, self-service or `sor_case`; staff upload .eml below

    def has_change_permission(self, request, obj=None):
        return False  # cases change through their buttons, never a model form

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:object_id>/do/<str:verb>/", view(self.verb_view), name="registry_case_verb"),
            path("attachment/<int:attachment_id>/", view(self.attachment_view), name="registry_case_attachment"),
            path("upload/", view(self.upload_view), name="registry_case_upload"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        qs = services.visible_cases(request.user)
        counts = {s.label: qs.filter(status=s.value).count() for s in CaseStatus if s != CaseStatus.CLOSED}
        extra = {"sor_case_counts": counts, "sor_case_upload": services.may_work(request.user),
                 "sor_quarantined": MailIntake.objects.filter(status=IntakeStatus.QUARANTINED).count()
                 if region_scope(request.user) is None else 0}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def _context(self, request, **extra):
        return {**self.admin_site.each_context(request), "opts": self.opts, "app_label": self.opts.app_label,
                "has_view_permission": True, **extra}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        case = services.visible_cases(request.user).select_related("assignee", "region", "merged_into") \
            .filter(pk=object_id).first()
        if case is None:
            messages.warning(request, gettext("Sagen findes ikke, eller du kan ikke se den."))
            return HttpResponseRedirect(reverse("admin:registry_case_changelist"))
        default = ("received" if not case.messages.filter(direction="out").exists()
                   else {CaseStatus.APPLIED: "done", CaseStatus.REJECTED: "rejected"}.get(case.status, "more_info"))
        template = request.GET.get("template", default)
        template = template if template in TEMPLATES else default
        subject, body = render(case, template)
        msgs = []
        for m in case.messages.prefetch_related("attachments"):
            msgs.append({"m": m, "safe_html": sanitise(m.html) if m.html else ""})
        context = self._context(
            request, title=f"{case.reference}: {case.subject}", case=case, may_work=services.may_work(request.user, case),
            messages_list=msgs, has_incoming=any(m["m"].direction == "in" for m in msgs), units=list(case.units.all()),
            change_sets=[(cs, list(cs.changes.all()), self._effective_rows(cs)) for cs in case.change_sets.all()],
            events=[(e, services.EVENT_LABELS.get(e.code.removeprefix(services.EVENT), e.code))
                    for e in case.events.select_related("actor")],
            templates=[(k, v[0]) for k, v in TEMPLATES.items()], template=template, reply_subject=subject,
            reply_body=body, pending=[ChangeSetStatus.SUBMITTED, ChangeSetStatus.DRAFT],
            settable=[(name, str(field.verbose_name)) for name, field in sorted(SETTABLE.items())],
            kinds={"sor_id": "SOR-ID", "location_number": gettext("lokationsnummer"),
                   "ydernummer": gettext("ydernummer"), "cvr": gettext("CVR-nummer")})
        return TemplateResponse(request, "admin/sor/case.html", context)

    @staticmethod
    def _effective_rows(cs):
        """A pending proposal beside the effective (inherited) values it changes: (unit, value,
        before, after, routing) rows of the preview, with the unit a location number comes from."""
        if cs.status not in (ChangeSetStatus.DRAFT, ChangeSetStatus.SUBMITTED, ChangeSetStatus.APPROVED):
            return []
        try:
            result = engine.preview(cs, with_records=False)
        except DomainError:
            return []
        return [(unit, PREVIEW_KEYS.get(key, key), _shown(v["before"]), _shown(v["after"]),
                 key in engine.ROUTING_KEYS or key == "location_number_source")
                for unit in result["units"] for key, v in unit["changes"].items()]

    def verb_view(self, request, object_id, verb):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        page = reverse("admin:registry_case_change", args=[object_id])
        post, user = request.POST, request.user
        actions = {
            "claim": lambda: services.case_claim(actor=user, case=object_id),
            "unassign": lambda: services.case_assign(actor=user, case=object_id, assignee=None),
            "assign": lambda: services.case_assign(actor=user, case=object_id, assignee=post.get("login", "").strip()),
            "comment": lambda: services.case_comment(actor=user, case=object_id, text=post.get("text", "")),
            "link": lambda: services.case_link_unit(actor=user, case=object_id, unit=post.get("sor_id", "").strip()),
            "unlink": lambda: services.case_unlink_unit(actor=user, case=object_id, unit=post.get("sor_id", "")),
            "propose": lambda: services.case_propose(actor=user, case=object_id, rows=[{
                "change": post.get("change", "set"), "sor_id": post.get("sor_id", "").strip(),
                "target": post.get("target", "").strip(), "field": post.get("field", "").strip(),
                "value": post.get("value", "").strip()}], confirm=bool(post.get("confirm"))),
            "reply": lambda: case_reply(actor=user, case=object_id, template=post.get("template", ""),
                                        subject=post.get("subject", ""), body=post.get("body", "")),
            "reject": lambda: services.case_reject(actor=user, case=object_id, reason=post.get("reason", "")),
            "close": lambda: services.case_close(actor=user, case=object_id),
            "submit_set": lambda: services.case_submit_proposal(actor=user, case=object_id,
                                                                change_set=post.get("change_set", "")),
            "cancel_set": lambda: services.case_cancel_proposal(actor=user, case=object_id,
                                                                change_set=post.get("change_set", "")),
            "confirm_identity": lambda: services.case_confirm_identity(actor=user, case=object_id,
                                                                      note=post.get("note", "")),
            "reopen": lambda: services.case_reopen(actor=user, case=object_id),
            "merge": lambda: services.case_merge(actor=user, case=object_id,
                                                 into=services.get_case(post.get("into", "")).pk),
        }
        if verb not in actions:
            return HttpResponseRedirect(page)
        try:
            result = actions[verb]()
        except services.ProposalWarnings as error:
            for text in error.warnings["__all__"]:
                messages.warning(request, text)
            messages.warning(request, gettext("Intet er foreslået endnu. Ret forslaget, eller sæt flueben i 'trods "
                                              "advarsler' og foreslå igen."))
            return HttpResponseRedirect(page)
        except DomainError as error:
            for text in _messages_of(error):
                messages.error(request, text)
            return HttpResponseRedirect(page)
        if verb in ("propose", "submit_set", "cancel_set"):
            messages.success(request, gettext("Ændringssæt %(id)s: %(status)s.") % {
                "id": result.pk, "status": result.get_status_display()})
        elif verb == "merge":
            return HttpResponseRedirect(reverse("admin:registry_case_change", args=[result.pk]))
        else:
            messages.success(request, gettext("Udført."))
        return HttpResponseRedirect(page)

    def attachment_view(self, request, attachment_id):
        attachment = CaseAttachment.objects.select_related("message__case").filter(pk=attachment_id).first()
        if attachment is None or not attachment.path or not services.visible_cases(request.user).filter(
                pk=attachment.message.case_id).exists():
            raise Http404
        response = FileResponse((Path(settings.SOR_MAIL_DIR) / attachment.path).open("rb"), as_attachment=True,
                                filename=attachment.filename, content_type="application/octet-stream")
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response

    def upload_view(self, request):
        """Staff upload .eml files (a mail saved from Outlook, a forwarded original): same intake."""
        if not services.may_work(request.user):
            raise Http404
        results = []
        if request.method == "POST":
            for upload in request.FILES.getlist("files"):
                outcome = ingest(upload.read(), origin=f"upload:{upload.name} by {request.user.get_username()}")
                results.append((upload.name, outcome))
        return TemplateResponse(request, "admin/sor/case_upload.html",
                                self._context(request, title=gettext("Indlæs mails (.eml)"), results=results))


@admin.register(MailIntake)
class MailIntakeAdmin(admin.ModelAdmin):
    """Every mail received, with its outcome; the quarantine is the filter "i karantæne"."""

    list_display = ("received_at", "status", "sender", "subject", "reason", "case_link", "original", "origin")
    list_filter = ("status",)
    search_fields = ("subject", "sender", "key")
    list_select_related = ("case",)
    actions = ["retry_selected"]
    readonly_fields = [f.name for f in MailIntake._meta.fields]

    @admin.display(description=_("sag"), ordering="case")
    def case_link(self, obj):
        if obj.case_id is None:
            return "–"
        return format_html('<a href="{}">{}</a>', reverse("admin:registry_case_change", args=[obj.case_id]),
                           obj.case.reference)

    @admin.display(description=_("original"))
    def original(self, obj):
        return format_html('<a href="{}" download>.eml</a>', reverse("admin:registry_mailintake_original",
                                                                      args=[obj.pk]))

    def get_urls(self):
        return [path("<int:intake_id>/original/", self.admin_site.admin_view(self.original_view),
                     name="registry_mailintake_original")] + super().get_urls()

    def original_view(self, request, intake_id):
        """The mail as received, as a download (never rendered)."""
        intake = self.get_queryset(request).filter(pk=intake_id).first()
        if intake is None or not self.has_view_permission(request):
            raise Http404
        response = FileResponse((Path(settings.SOR_MAIL_DIR) / intake.eml_path).open("rb"), as_attachment=True,
                                filename=f"mail-{intake.pk}.eml", content_type="application/octet-stream")
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if region_scope(request.user) is None:
            return qs
        # A regional administrator: only the mail of cases they may see (no quarantine: no region).
        return qs.filter(case__in=services.visible_cases(request.user))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return (obj is None and request.user.has_perm("registry.change_mailintake")
                and region_scope(request.user) is None)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Prøv de valgte mails i karantæne igen"), permissions=["change"])
    def retry_selected(self, request, queryset):
        for intake in queryset.filter(status=IntakeStatus.QUARANTINED):
            outcome = retry(intake.pk, actor=request.user)
            if outcome.action == "quarantined":
                messages.warning(request, gettext("Stadig i karantæne: %(reason)s") % {"reason": outcome.quarantined})
            else:
                messages.success(request, gettext("Sag %(ref)s.") % {"ref": outcome.case})
