"""The widgets and fields of the unit spreadsheet: how each column is read and written."""

from __future__ import annotations

from django.utils.translation import gettext as _
from import_export import fields as ie_fields
from import_export import widgets

from .. import identifiers as ids
from ..models import Unit
from .cells import cell_text

# ---------------------------------------------------------------------------------------------
# Widgets and fields


class TextWidget(widgets.Widget):
    def __init__(self, max_length: int, *, zero_pad: int = 0):
        super().__init__(coerce_to_string=True)
        self.max_length = max_length
        self.zero_pad = zero_pad

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if self.zero_pad and isinstance(value, int | float) and ids.is_digits(text):
            # A spreadsheet program that read "019062" as a number dropped the leading zero.
            text = text.zfill(self.zero_pad)
        if len(text) > self.max_length:
            raise ValueError(_("Højst %(max)d tegn (der er %(n)d).") % {"max": self.max_length, "n": len(text)})
        return text

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class PositiveIntWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if not text:
            return None
        if not ids.is_digits(text) or int(text) > 2_147_483_647:
            raise ValueError(_("Skal være et helt, positivt tal (højst 10 cifre); %(value)r er ikke.") % {"value": text})
        return int(text)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class YesNoWidget(widgets.Widget):
    YES = {"ja", "j", "yes", "y", "true", "sand", "1", "x"}
    NO = {"nej", "n", "no", "false", "falsk", "0", ""}

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value).lower()
        if text in self.YES:
            return True
        if text in self.NO:
            return False
        raise ValueError(_("Skriv ja eller nej; %(value)r forstås ikke.") % {"value": cell_text(value)})

    def render(self, value, obj=None, **kwargs):
        return "ja" if value else "nej"


class CodeWidget(widgets.Widget):
    """A code list value by its code; the whole (small) code list is read once per import."""

    def __init__(self, model, what):
        super().__init__(coerce_to_string=True)
        self.model = model
        self.what = what
        self._by_code = None

    def _codes(self) -> dict[str, int]:
        if self._by_code is None:
            self._by_code = dict(self.model.objects.values_list("code", "pk"))
        return self._by_code

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if not text:
            return None
        try:
            return self._codes()[text]
        except KeyError:
            raise ValueError(_("Ukendt %(what)s: %(code)s.") % {"what": self.what, "code": text}) from None

    def code_of(self, pk) -> str:
        if pk is None:
            return ""
        by_pk = {v: k for k, v in self._codes().items()}
        return by_pk.get(pk, str(pk))

    def render(self, value, obj=None, **kwargs):
        return getattr(value, "code", "") if value is not None else ""


class SheetField(ie_fields.Field):
    """A column. `name` is the model field it edits (None for derived columns); `attname` is what
    is compared and handed to the service (`region_id` for a code list)."""

    def __init__(self, header, *, name=None, attname=None, readonly=False, export_attr=None, widget=None,
                 display=None):
        self.name = name
        self.attname = attname or name
        self._display = display
        super().__init__(attribute=self.attname, column_name=header, widget=widget or widgets.Widget(),
                         readonly=readonly)
        self.export_attr = export_attr or self.attname
        self._parts = tuple(self.export_attr.split("__"))

    def get_value(self, instance):
        value = instance
        for part in self._parts:
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    def export(self, instance, **kwargs):
        return self.widget.render(self.get_value(instance))

    def display(self, value) -> str:
        """A stored (attname) value as the preview shows it."""
        if isinstance(self.widget, CodeWidget):
            return self.widget.code_of(value)
        if self._display:
            return self._display(value)
        return self.widget.render(value)


def _text(header, name, *, zero_pad=0):
    return SheetField(header, name=name, widget=TextWidget(Unit._meta.get_field(name).max_length, zero_pad=zero_pad))


def _code(header, name, model, what):
    return SheetField(header, name=name, attname=f"{name}_id", export_attr=name, widget=CodeWidget(model, what))


def _readonly(header, attr, widget=None):
    return SheetField(header, attname=attr, readonly=True, widget=widget or TextWidget(100))


class DateTextWidget(widgets.Widget):
    def render(self, value, obj=None, **kwargs):
        return value.isoformat() if value else ""
