"""What every service shares: settings, database, gRPC bootstrap, errors, caller identity, token checks."""
