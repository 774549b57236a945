"""Parsers for ACS call logs exported from Azure, one module per format.

Every parser turns records into Observations with `fields.py` and reports what it cannot read
through a `Reject` callback with a locator (file:line, or the row of a query result), so the
files source can count rejections by reason and log them in one place.
"""
