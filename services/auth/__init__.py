"""The auth service: users, organizations, memberships, sessions, API keys and encrypted credentials."""
