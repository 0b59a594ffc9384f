"""`docsearch mcp`: serve search to a coding agent over stdio (the Model Context Protocol)."""

from __future__ import annotations

from ..errors import ConfigError
from .app import BackendOpt, DeviceOpt, HomeOpt, IndexOpt, UrlOpt, command, settings_from


@command(interrupted="the server stopped")
def mcp(index: IndexOpt = None, qdrant_url: UrlOpt = None, home: HomeOpt = None, backend: BackendOpt = None,
        device: DeviceOpt = None) -> None:
    """Serve search over stdio to a coding agent (Model Context Protocol): tools search, get_document,
    list_indexes, index_info. The index and its model load once, when the server starts."""
    s = settings_from(index=index, qdrant_url=qdrant_url, home=home, backend=backend, device=device)
    try:
        from .mcp_server import build_server
    except ImportError as exc:  # not installed, or the 1.x SDK (which has no MCPServer)
        raise ConfigError(f"docsearch mcp needs the MCP SDK 2.x ({exc}): pip install 'docsearch[mcp]'") from None
    server, close = build_server(s)
    try:
        server.run("stdio")
    finally:
        close()
