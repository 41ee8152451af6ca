"""One module per verb (aliases share one); procman.cli.app imports a module only when its
verb runs, so each command pays for its own imports and no other's."""
