"""Accounts use Django's User and DRF's Token; the exchange's own fee account is a
system user created by this app's migration (see FEE_ACCOUNT_USERNAME)."""
