"""Replay ACS call logs exported from Azure: diagnostic-settings JSON lines, Log Analytics query
results (JSON) and CSV exports, from files or glob patterns.

One module per job: `settings` (the `type: files` configuration), `cursor` (each file's
progress and the saved cursor), `discovery` (globbing, one name per file, rotation),
`progress` (the terminal progress bar), `rejections` (counting and logging bad records) and
`source` (the Source that ties them together).

Nothing is imported here: configuration (through the source registry) reads `settings` and
`cursor` at every start-up, and only a files source needs `source` and its readers.
"""
