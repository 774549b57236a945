"""Sources of ACS call records: simulator, exported files, Log Analytics."""
