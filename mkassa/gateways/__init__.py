"""Adapters to the Bank's systems: a sandbox and a production implementation each."""
