class AgentError(Exception):
    """A call the agent refuses or cannot complete; the message is one plain sentence."""
