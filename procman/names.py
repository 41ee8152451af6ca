"""What a process type may be called (Foreman's and Honcho's rule). Its own leaf, so the
CLI's count parsing and the model share one pattern without importing each other."""

import re

NAME_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
NAME_RULE = "letters, digits, '_' and '-'"
