"""Relying parties of the provider: separate apps that reach it over HTTP only."""
