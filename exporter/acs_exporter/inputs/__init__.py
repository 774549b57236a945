"""Reading what operators write, safely: the bounded YAML loader with positions (safeyaml), the
one error type for bad input (errors), pydantic errors to file:line (validation), settings value
types with their ranges (types), and secret masking and value shortening (redact)."""
