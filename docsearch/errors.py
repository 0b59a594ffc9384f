"""Errors the library raises; the CLI turns each into one red line and exit code 1."""

from __future__ import annotations


class DocsearchError(Exception):
    """Base class: every failure a user can cause or fix."""


class ConfigError(DocsearchError):
    """A setting or flag has a value docsearch cannot use."""


class IngestError(DocsearchError):
    """A source file could not be turned into documents (binary, undecodable, corrupt...)."""


class ModelError(DocsearchError):
    """A model directory is missing, unreadable, or not a sentence-transformers model."""


class ModelMismatchError(DocsearchError):
    """The index was built with another model than the one asked for."""


class IndexNotFoundError(DocsearchError):
    """No index of that name exists."""


class IndexDamagedError(DocsearchError):
    """A part of an index (index.json, the manifest, the store) is unreadable, or the parts disagree."""


class StoreError(DocsearchError):
    """The vector store refused or failed an operation."""


class DataError(DocsearchError):
    """Training or evaluation data is missing or has no usable rows."""


class IndexBusyError(DocsearchError):
    """Another process is writing the index (one writer at a time)."""


class DiskFullError(StoreError):
    """Not enough free disk space for a write; nothing was half-written."""


class Interrupted(DocsearchError):
    """A run stopped at a safe point because it was asked to (Ctrl-C); the index is consistent."""
