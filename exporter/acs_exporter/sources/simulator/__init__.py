"""The built-in simulator (the default source): its settings, cursor, reasons, weighted
scenarios and the source itself."""
