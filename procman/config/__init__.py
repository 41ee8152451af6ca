"""Loading the formation: Procfile, procman.yaml and .env files."""
