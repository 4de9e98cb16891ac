"""Edge node runtime for township comprehensive law-enforcement teams."""

__version__ = "0.1.0"
