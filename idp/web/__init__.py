"""What the provider shows people: templates, styles, translations, error pages, headers."""
