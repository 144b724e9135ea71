"""Forms of the admin's balance page (accounts/admin.py)."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from marketdata.models import AMOUNT, Asset


class BalanceMoveForm(forms.Form):
    """A deposit or a withdrawal: the asset and a positive amount. Whether the amount
    fits the asset's decimals is the service's call (accounts.services), so the admin
    and the support commands refuse the same amounts with the same message."""

    asset = forms.ModelChoiceField(
        queryset=Asset.objects.all(), to_field_name="symbol", empty_label=None
    )
    amount = forms.DecimalField(
        max_digits=AMOUNT["max_digits"],
        decimal_places=AMOUNT["decimal_places"],
        widget=forms.TextInput(attrs={"size": 16, "inputmode": "decimal"}),
    )

    def clean_amount(self) -> Decimal:
        amount: Decimal = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError("The amount must be greater than zero.")
        return amount

    def errors_text(self) -> str:
        """The form's errors on one line, for an admin message."""
        return "; ".join(
            f"{self.fields[name].label or name}: {' '.join(str(e) for e in errors)}"
            if name in self.fields
            else " ".join(str(e) for e in errors)
            for name, errors in self.errors.items()
        )
