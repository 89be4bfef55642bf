"""Failures that stop a load. Each message names the file and says what to do about it."""


class IngestError(Exception):
    """The dump cannot be loaded as delivered; nothing was written."""


class MissingFileError(IngestError):
    pass


class UndecodableFileError(IngestError):
    pass


class HeaderMismatchError(IngestError):
    pass
