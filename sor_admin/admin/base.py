"""Shared pieces of the SOR staff admin: forms whose validation step is the service call, and a
ModelAdmin base that never deletes and shows row history (django-simple-history) per object.

Why the service runs during form validation: the service is the validator (field rules, roles,
regions, concurrent edits), and only inside form validation can its refusal be shown on the form
the way Django shows any other error. The admin wraps the whole POST in one transaction and the
service in a savepoint, so a refused change writes nothing and an accepted one is saved once;
`save_model` then has nothing left to do.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.forms.utils import ErrorList
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry.errors import DomainError, ValidationFailed

REASON_HELP = _("Hvorfor ændres registeret? Begrundelsen gemmes i historikken sammen med dit navn.")


class ReasonField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Begrundelse"))
        kwargs.setdefault("help_text", REASON_HELP)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2, "cols": 80}))
        kwargs.setdefault("error_messages", {"required": _("Skriv en begrundelse for ændringen.")})
        super().__init__(**kwargs)


def add_domain_error(form: forms.Form, error: DomainError, *, field_names=None) -> None:
    """Show a service's refusal on `form`: field messages on their fields (or as form errors
    naming the field when it is not on the form), anything else as a form error."""
    if isinstance(error, ValidationFailed):
        buckets = [(error.errors, False), (error.warnings, True)]
        for bucket, is_warning in buckets:
            for field, msgs in bucket.items():
                for msg in msgs:
                    text = gettext("Advarsel: %(msg)s") % {"msg": msg} if is_warning else msg
                    if field in form.fields and (field_names is None or field in field_names) \
                            and field not in getattr(form, "readonly_names", ()):
                        target, shown = field, text
                    else:
                        target, shown = None, (f"{field_label(form, field)}: {text}" if field != "__all__" else text)
                    form.add_error(target, forms.ValidationError(shown, code=WARNING_CODE if is_warning else None))
        can_override = "override_warnings" in form.fields
        form.sor_only_warnings = bool(error.only_warnings and can_override)
        if form.sor_only_warnings:
            form.add_error("override_warnings", forms.ValidationError(gettext(
                "Ret advarslerne, eller sæt kryds her for at gemme trods advarslerne (begrundelsen gemmes)."),
                code=WARNING_CODE))
        return
    form.add_error(None, str(error))


WARNING_CODE = "sor_warning"


def is_warning(error) -> bool:
    return isinstance(error, forms.ValidationError) and error.code == WARNING_CODE


class SorErrorList(ErrorList):
    """Form errors where a service's warning (code `sor_warning`) is shown as a warning, not as
    an error: the person may save anyway, and the page must not look as if they may not."""

    template_name_ul = "admin/sor/errors_ul.html"

    def get_context(self):
        items = [(next(iter(e)) if isinstance(e, forms.ValidationError) else e, is_warning(e)) for e in self.data]
        return {"errors": self, "items": items, "error_class": self.error_class}


def split_form_errors(form) -> tuple[list, list]:
    """([(label, field id, message)] errors, [...] warnings) of a bound form, for the summary boxes."""
    errors, warnings = [], []
    for name, items in form.errors.as_data().items():
        if name == "override_warnings":
            continue  # its note says what the summary's own button does
        bound = form[name] if name in form.fields else None
        label = bound.label if bound is not None else ""
        anchor = bound.id_for_label if bound is not None else ""
        for item in items:
            (warnings if is_warning(item) else errors).append((label, anchor, next(iter(item))))
    return errors, warnings


def field_label(form, name: str) -> str:
    model = getattr(getattr(form, "_meta", None), "model", None)
    if model is not None:
        try:
            return str(model._meta.get_field(name).verbose_name)
        except Exception:  # noqa: BLE001 - any unknown name is shown as is
            pass
    return name


class ServiceModelForm(forms.ModelForm):
    """A ModelForm that saves through a service (see the module docstring).

    Subclasses implement `apply(cleaned_data) -> saved instance`; `self.request` is set by
    `ServiceAdminMixin.get_form`. Model validation (`full_clean`) is skipped: the service validates."""

    request = None
    model_admin = None
    reason = ReasonField()
    # Identifiers take what is typed: a browser's maxlength would cut a 14-digit location number
    # to 13 without a word; the service's rule then says what is wrong ("14 cifre: …").
    IDENTIFIER_FIELDS = ("gln", "provider_number", "p_number", "cvr", "shak", "pharmacy_number")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("error_class", SorErrorList)
        super().__init__(*args, **kwargs)
        from django.core.validators import MaxLengthValidator

        for name in self.IDENTIFIER_FIELDS:
            field = self.fields.get(name)
            if field is None or not hasattr(field, "max_length"):
                continue
            field.max_length = None
            field.validators = [v for v in field.validators if not isinstance(v, MaxLengthValidator)]
            field.widget.attrs.pop("maxlength", None)

    def _post_clean(self):
        if self._errors:
            return
        try:
            with transaction.atomic():
                saved = self.apply(self.cleaned_data)
        except DomainError as error:
            add_domain_error(self, error)
            return
        if saved is not None:
            self.instance = saved

    def apply(self, data):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def actor(self):
        return self.request.user if self.request else None


class ServiceAdminMixin:
    """ModelAdmin behaviour shared by every register admin: nothing is ever deleted, saving has
    already happened in the form (through a service), and the request reaches the form."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request, "model_admin": self})

    # Form fields that say how to save, not what: they do not count as a change.
    NOT_CHANGES = frozenset({"reason", "seen_version", "override_warnings"})

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = getattr(context.get("adminform"), "form", None)
        if form is not None and form.is_bound and form.errors:
            context["sor_errors"], context["sor_warnings"] = split_form_errors(form)
            context["sor_can_override"] = getattr(form, "sor_only_warnings", False)
            if not context["sor_errors"]:
                # Only warnings: Django's "Ret fejlen nedenfor" would say the form cannot be saved.
                context["errors"] = []
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def save_model(self, request, obj, form, change):
        """The service already saved `obj` while validating the form."""
        request._sor_nothing_changed = change and not (set(form.changed_data) - self.NOT_CHANGES)

    def response_change(self, request, obj):
        if getattr(request, "_sor_nothing_changed", False):
            # Django would say "… blev ændret" although the form held what was saved already.
            messages.info(request, gettext("Intet blev ændret: formularen var den samme som det gemte for %(obj)s.")
                          % {"obj": obj})
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def save_related(self, request, form, formsets, change):
        """Related rows are written by the services too."""

    def has_delete_permission(self, request, obj=None):
        return False

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django's text suggests the row was deleted; register rows never are. A row outside the
        # user's region is reported the same way as a missing one (no hint that it exists).
        messages.warning(request, gettext("%(name)s med ID “%(key)s” findes ikke, eller du har ikke adgang til den.")
                         % {"name": opts.verbose_name, "key": object_id})
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:index"))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class ObjectActionMixin:
    """Small per-object workflow pages (close a unit, retire a code): `<pk>/<name>/`.

    Subclasses list `object_actions = [(url_name, view_method_name)]`."""

    object_actions: list[tuple[str, str]] = []

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}_"
        extra = [
            path(f"<path:object_id>/{name}/", self.admin_site.admin_view(getattr(self, method)),
                 name=prefix + name)
            for name, method in self.object_actions
        ]
        return extra + super().get_urls()

    def object_action_url(self, obj, name):
        return reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[obj.pk])

    def get_object_or_refuse(self, request, object_id, perm_check):
        obj = self.get_object(request, object_id)
        if obj is None:
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not perm_check(request, obj):
            if request.method == "POST" or not self.has_view_permission(request, obj):
                raise PermissionDenied
            # Someone who may read the row followed a link they may not use: say why, show the row.
            from registry.roles import role_descriptions
            from sor_admin.views import refused_action

            roles = "; ".join(f"{name}: {what}" for name, what in role_descriptions(request.user))
            action = refused_action(request, thing=obj)
            if action:
                text = gettext("Du har ikke ret til at %(action)s (en anden region, eller din rolle tillader det "
                               "ikke). Du kan se den, men ikke ændre den.") % {"action": action}
            else:
                text = gettext("Du har ikke ret til dette for %(obj)s (en anden region, eller din rolle "
                               "tillader det ikke). Du kan se den, men ikke ændre den.") % {"obj": obj}
            messages.error(request, text + (" " + gettext("Din rolle: %(roles)s.") % {"roles": roles} if roles else ""))
            url = reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
            return None, HttpResponseRedirect(url)
        return obj, None

    def render_action_form(self, request, obj, form, *, title, submit_label, intro="", template=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "original": obj,
            "object": obj,
            "title": title,
            "form": form,
            "intro": intro,
            "submit_label": submit_label,
            "media": self.media + form.media,
            "change_url": reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change",
                                  args=[obj.pk]),
            "has_view_permission": self.has_view_permission(request, obj),
        }
        return TemplateResponse(request, template or "admin/sor/action_form.html", context)


class SorModelAdmin(ServiceAdminMixin, ObjectActionMixin, admin.ModelAdmin):
    """Base of the register's admins."""

    empty_value_display = "–"  # the same dash as the list's own columns (Django's is "-")

    def action_checkbox(self, obj):
        # Django renders a CheckboxInput widget through the template engine for every row (most of
        # a 500-row list's time); the same markup, written directly.
        return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
                           helpers.ACTION_CHECKBOX_NAME, obj.pk,
                           format_html(gettext("Select this object for an action - {}"), str(obj)))

    show_full_result_count = False


class ReadOnlyAdminMixin:
    """Rows staff read but never add, change or delete in the admin (runs, operations)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def usable_code_choices(db_field, obj=None):
    """The choices of a code-list field on a form: codes usable today, plus the one the row
    already has (so saving never drops it), as the services require."""
    from django.db.models import Q
    from django.utils import timezone

    from registry.models.codes import usable_codes_q

    current = getattr(obj, db_field.attname, None) if obj is not None else None
    query = usable_codes_q(timezone.localdate())
    if current is not None:
        query |= Q(pk=current)
    return db_field.related_model._default_manager.filter(query)
