"""The person: identifiers, passwords, one-time codes, lockout, sessions and their pages."""
