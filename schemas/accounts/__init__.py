"""Accounts and their API keys as data, shared by the gateway (which changes them) and the
worker (which reads each account's settings): the registry, the change log they are kept in,
and the service every process follows on the accounts topic."""
