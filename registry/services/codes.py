"""Services for code lists: a code keeps its row (and id) when its text changes."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from ..audit import Origin, audit_context
from ..errors import DomainError, ValidationFailed
from ..models.codes import file_version_of
from ..permissions import check_perm

EDITABLE = {"name_da", "name_en", "note", "level_hint", "region", "syntax", "message_group", "urn", "imported_unnamed"}


def _perm(model, action):
    return f"registry.{action}_{model._meta.model_name}"


@transaction.atomic
def code_create(*, actor, reason: str, origin: str = Origin.ADMIN, model, code: str, imported_unnamed: bool = False,
                **values):
    with audit_context(actor=actor, reason=reason, origin=origin):
        check_perm(actor, _perm(model, "add"), _("Du må ikke ændre kodelister."))
        code = (code or "").strip()
        if not code:
            raise ValidationFailed({"code": [_("Koden skal udfyldes.")]})
        if model.objects.filter(code=code).exists():
            raise ValidationFailed({"code": [_("Koden %(code)s findes allerede.") % {"code": code}]})
        if hasattr(model, "file_version"):
            values.setdefault("file_version", file_version_of(model.__name__, code))
        return model.objects.create(code=code, imported_unnamed=imported_unnamed, **values)


@transaction.atomic
def code_update(*, actor, reason: str, origin: str = Origin.ADMIN, obj, changes: dict):
    with audit_context(actor=actor, reason=reason, origin=origin):
        model = type(obj)
        check_perm(actor, _perm(model, "change"), _("Du må ikke ændre kodelister."))
        locked = model.objects.select_for_update().get(pk=obj.pk)
        unknown = set(changes) - EDITABLE - {f.name for f in model._meta.concrete_fields if f.name not in {"id", "code", "retired", "successor"}}
        if unknown:
            raise DomainError(_("Feltet %(f)s kan ikke ændres; koden selv ændres aldrig.") % {"f": ", ".join(sorted(unknown))})
        changed = {k: v for k, v in changes.items() if getattr(locked, k) != v}
        if not changed:
            return locked
        for key, value in changed.items():
            setattr(locked, key, value)
        if changed.keys() & {"name_da", "name_en"} and (locked.name_da or locked.name_en):
            locked.imported_unnamed = False
        locked.save()
        return locked


@transaction.atomic
def code_retire(*, actor, reason: str, origin: str = Origin.ADMIN, obj, successor=None):
    """Retire a code; units keep it (history stays true) and staff are pointed to the successor."""
    with audit_context(actor=actor, reason=reason, origin=origin):
        model = type(obj)
        check_perm(actor, _perm(model, "change"), _("Du må ikke ændre kodelister."))
        if successor is not None and (type(successor) is not model or successor.pk == obj.pk):
            raise ValidationFailed({"successor": [_("Efterfølgeren skal være en anden kode i samme kodeliste.")]})
        locked = model.objects.select_for_update().get(pk=obj.pk)
        locked.retired = True
        locked.successor = successor
        locked.save()
        return locked
