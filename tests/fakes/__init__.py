"""Fake third-party servers for tests (model providers, search APIs) speaking their real wire formats."""
