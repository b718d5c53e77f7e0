"""The protocol: Authlib server, grants, endpoints, tokens, discovery, logout."""
