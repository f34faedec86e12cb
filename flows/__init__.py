"""One Prefect flow per operator scenario; each module reads like the runbook."""
