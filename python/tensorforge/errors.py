"""Exceptions raised by TensorForge. Every error TensorForge itself raises derives from :class:`Error`
(docs/reliability.md lists each class of bad input and the error it gets)."""


class Error(RuntimeError):
    """Base class of every error the TensorForge engine raises."""


class InvalidArgumentError(Error, ValueError, TypeError):
    """A caller passed a bad value: a wrong shape, dtype, name, type or attribute. It is also a
    ValueError and a TypeError, so code written for Python's own argument errors catches it."""


class InvalidNetworkError(Error, ValueError):
    """The network is malformed: shape inference failed for a layer, or an output is missing."""


class UnsupportedError(Error):
    """A valid request this build cannot carry out (a device or kernel it lacks)."""


class CorruptFileError(Error):
    """An engine file or buffer failed validation (truncated, damaged, foreign or newer)."""


class EngineRuntimeError(Error):
    """A failure while running an engine, such as an index value out of range."""


class InternalError(Error):
    """A bug in TensorForge; please report it."""
