"""The HTTP API: problem documents, request middleware, and (later) the routers."""
