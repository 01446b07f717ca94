"""User-facing errors: the command line prints them as one line, without a traceback."""


class EquilensError(Exception):
    """A problem with the user's input, data, config or run folder, stated in one line."""


class DataError(EquilensError, ValueError):
    """A data file is missing, malformed or holds values the tool cannot use."""


class ConfigError(EquilensError, ValueError):
    """A config key, value or model spec is invalid."""


class RunDirError(EquilensError):
    """A run folder is missing, incompatible or would be overwritten."""


class MissingDependencyError(EquilensError, ImportError):
    """An optional package a feature needs is not installed; the message names the install."""
