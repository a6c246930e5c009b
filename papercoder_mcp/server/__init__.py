"""The MCP adapters: the server's assembly (`build`), how a call gets its model (`app`), the client-sampling
rounds and agent handoff, and the result models the tools return."""
