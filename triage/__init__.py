"""triage: makes sure no customer complaint in a shared inbox is missed, mishandled or answered rashly."""
__version__ = "0.1.0"
