"""The errors Imagen raises on purpose, under one root: `except ImagenError` catches every one.

Defined here: the ones that carry only a message (and an exit code). One lives next to the code
that gives it its meaning and derives from ImagenError too: transports.rpcs.RpcError (its code
decides whether a call is retried)."""

from __future__ import annotations


class ImagenError(Exception):
    """Root of every error Imagen raises on purpose."""


class ConfigError(ImagenError):
    """A setting is missing or wrong; the message says what to set."""


class ModelLoadError(ConfigError):
    """IMAGEN_MODEL names no pipeline that loads."""


class BadArgument(ImagenError, ValueError):
    """An argument a person typed has the wrong shape; the message says what is expected."""


class NotFound(ImagenError, LookupError):
    """A series or try that was named does not exist (or is not the caller's)."""


class TooManyUnfinished(ImagenError):
    """The user has too many tries queued or running: the database's message and what to do."""

    exit_code = 75  # sysexits.h EX_TEMPFAIL: a temporary failure, try again later


class LeaseLost(ImagenError):
    """Another worker owns the try now (our lease expired): store nothing, move on."""


class JobCancelled(ImagenError):
    """The user cancelled the try: store nothing, move on."""


class BadSettings(ImagenError, ValueError):
    """The try's settings cannot be rendered by this pipeline; the message is for its owner."""


class RenderAborted(ImagenError):
    """The step callback asked to stop (cancelled, lease lost, shutting down)."""
