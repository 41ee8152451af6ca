"""Exits with the code given as argv[1] (default 3) right after saying so."""

import sys

code = int(sys.argv[1]) if len(sys.argv) > 1 else 3
print(f"crashing with {code}")
sys.exit(code)
