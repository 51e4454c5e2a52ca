"""huashu (话术): a reply copilot for Chinese e-commerce customer service."""

__version__ = "0.1.0"
