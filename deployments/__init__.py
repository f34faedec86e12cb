"""Serving and deploying the flows, and the Slack approval listener."""
