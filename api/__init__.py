"""The HTTP API: routes, signing in, access rules, the error table, the app factory and its pages."""
